import { Pool } from 'undici';
import { RemoteError, transportError } from '../client/errors.js';
import { codeFromNumber, isErrorCode } from '../errors/index.js';
import { decodeInferResponse, encodeRequest } from '../protocol/graphpipe/index.js';
import type { Tensor } from '../tensor/index.js';
import type { Send } from './load.js';

/**
 * perf's GraphPipe load path. perf sends the same few requests over and over, so it
 * encodes each body once and posts the bytes on an undici pool of its own, with the
 * step's stop signal as the only signal and undici's own timeouts. Going through
 * GraphPipeClient instead cost per send an encode, an `AbortSignal.timeout` and an
 * `AbortSignal.any` (which keeps weak references the collector must sweep), and
 * bench/perf-wrk.ts showed that cost making perf the bottleneck against a fast server.
 * Answers are still checked as the client checks them: status 200, a readable
 * InferResponse, no errors in it.
 */
export class GraphPipeSender {
  readonly #pool: Pool;
  readonly #path: string;

  constructor(
    readonly url: string,
    connections: number,
    private readonly timeoutMs: number,
  ) {
    const u = new URL(url);
    this.#path = `${u.pathname}${u.search}`;
    this.#pool = new Pool(u.origin, { connections, pipelining: 1 });
  }

  sender(tensors: readonly Tensor[], inputNames: readonly string[]): Send {
    const body = encodeRequest({ type: 'infer', config: '', inputNames: [...inputNames], inputs: [...tensors], outputNames: [] });
    const headers = { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' };
    const { url, timeoutMs } = this;
    return async (signal) => {
      let status: number;
      let answer: Uint8Array;
      try {
        const res = await this.#pool.request({
          method: 'POST',
          path: this.#path,
          body,
          headers,
          signal,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        status = res.statusCode;
        answer = new Uint8Array(await res.body.arrayBuffer());
        if (status !== 200) throw answerError(url, status, answer, res.headers['x-modelpipe-error']);
      } catch (err: unknown) {
        throw err instanceof RemoteError ? err : transportError(url, err, timeoutMs);
      }
      let errors: { code: number; message: string }[];
      try {
        errors = decodeInferResponse(answer).errors;
      } catch (err: unknown) {
        throw new RemoteError('MP_ERR_BAD_RESPONSE', `${url}: unreadable response: ${(err as Error).message}`, { url, cause: err });
      }
      const e = errors[0];
      if (e) throw RemoteError.fromWire(url, 200, e.code, e.message);
    };
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

/** A refusal: the InferResponse's error when there is one, else the code header, else the status. */
function answerError(url: string, status: number, body: Uint8Array, codeHeader: unknown): RemoteError {
  try {
    const e = decodeInferResponse(body).errors[0];
    if (e) return new RemoteError(codeFromNumber(e.code) ?? 'MP_ERR_REMOTE', `${url}: ${e.message}`, { url, status, remoteCode: e.code });
  } catch {
    // not a flatbuffer: the reference servers answer text
  }
  const text = new TextDecoder().decode(body.subarray(0, 1000)).trim();
  const code = typeof codeHeader === 'string' && isErrorCode(codeHeader) ? codeHeader : 'MP_ERR_REMOTE';
  return new RemoteError(code, `${url}: HTTP ${status}${text ? `: ${text}` : ''}`, { url, status });
}
