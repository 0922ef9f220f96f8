import { RemoteError } from '../client/errors.js';
import { codeFromNumber, isErrorCode } from '../errors/index.js';
import { decodeInferResponse, encodeRequest } from '../protocol/graphpipe/index.js';
import type { Tensor } from '../tensor/index.js';
import type { HttpLoad } from './http-load.js';
import type { Send } from './load.js';

const HEADERS = { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' };

/**
 * perf's GraphPipe load path. perf sends the same few requests over and over, so it
 * encodes each body once and posts the bytes on an HTTP load of its own (http-load.ts),
 * with the step's stop signal as the only signal. Going through GraphPipeClient instead
 * cost per send an encode, an `AbortSignal.timeout` and an `AbortSignal.any`, and
 * bench/perf-wrk.ts showed that cost making perf the bottleneck against a fast server.
 * Answers are still checked as the client checks them: status 200, a readable
 * InferResponse, no errors in it.
 */
export function graphPipeSend(load: HttpLoad, url: string, tensors: readonly Tensor[], inputNames: readonly string[]): Send {
  const body = encodeRequest({ type: 'infer', config: '', inputNames: [...inputNames], inputs: [...tensors], outputNames: [] });
  const u = new URL(url);
  const post = load.post(`${u.pathname}${u.search}`, HEADERS, body);
  return async (signal) => {
    const { status, headers, body: answer } = await post(signal);
    if (status !== 200) throw answerError(url, status, answer, headers['x-modelpipe-error']);
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

/** A refusal: the InferResponse's error when there is one, else the code header, else the status. */
function answerError(url: string, status: number, body: Uint8Array, codeHeader: string | undefined): RemoteError {
  try {
    const e = decodeInferResponse(body).errors[0];
    if (e) return new RemoteError(codeFromNumber(e.code) ?? 'MP_ERR_REMOTE', `${url}: ${e.message}`, { url, status, remoteCode: e.code });
  } catch {
    // not a flatbuffer: the reference servers answer text
  }
  const text = new TextDecoder().decode(body.subarray(0, 1000)).trim();
  const code = codeHeader !== undefined && isErrorCode(codeHeader) ? codeHeader : 'MP_ERR_REMOTE';
  return new RemoteError(code, `${url}: HTTP ${status}${text ? `: ${text}` : ''}`, { url, status });
}
