import { Readable } from 'node:stream';
import { Agent, type Dispatcher, request } from 'undici';
import {
  type MetadataResponse,
  decodeInferResponse,
  decodeMetadataResponse,
  encodeRequest,
  encodeRequestChunks,
} from '../protocol/graphpipe/index.js';
import { type Nested, type Tensor, fromNested, isTensor, toNested } from '../tensor/index.js';
import { ERROR_CODES, ModelpipeError, isErrorCode } from '../errors/index.js';
import { RemoteError, transportError } from './errors.js';
import { type ClientSecurity, authHeaders, hasTls, securityOf, tlsDispatcher } from './security.js';

export interface CallOptions {
  config?: string;
  /** Whole-call timeout in ms (default 60 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Connection pool to use (default: a shared keep-alive agent). */
  dispatcher?: Dispatcher;
  /** CA, client certificate and bearer token (default: the process's, see security.ts). */
  security?: ClientSecurity;
}

export interface MultiOptions extends CallOptions {
  inputNames?: string[];
  outputNames?: string[];
}

/** One shared keep-alive pool for all calls; undici keeps a pool of sockets per origin. */
let sharedAgent: Agent | undefined;
export function defaultDispatcher(): Agent {
  sharedAgent ??= new Agent({ keepAliveTimeout: 30_000, connections: 64, pipelining: 1 });
  return sharedAgent;
}

const LARGE = 1 << 16;

async function post(url: string, chunks: Uint8Array[], opts: CallOptions): Promise<Uint8Array> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const signals = [AbortSignal.timeout(timeoutMs), ...(opts.signal ? [opts.signal] : [])];
  let total = 0;
  for (const c of chunks) total += c.length;
  const sec = securityOf(opts.security);
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      method: 'POST',
      // Large messages go out as their chunks (payloads are the tensors' own memory).
      body:
        total >= LARGE
          ? Readable.from(chunks, { objectMode: false })
          : chunks.length === 1
            ? (chunks[0] as Uint8Array)
            : Buffer.concat(chunks),
      // Accept: errors as an InferResponse with `errors` (code and message), not the reference text body.
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(total),
        accept: 'application/octet-stream',
        ...authHeaders(sec),
      },
      dispatcher: opts.dispatcher ?? (hasTls(sec) ? tlsDispatcher(sec) : defaultDispatcher()),
      signal: AbortSignal.any(signals),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
  } catch (err: unknown) {
    if (opts.signal?.aborted) throw transportError(url, Object.assign(new Error('aborted'), { name: 'AbortError' }), timeoutMs);
    if (signals[0]?.aborted) throw transportError(url, Object.assign(new Error('timeout'), { name: 'TimeoutError' }), timeoutMs);
    throw transportError(url, err, timeoutMs);
  }
  let body: Uint8Array;
  try {
    body = new Uint8Array(await res.body.arrayBuffer());
  } catch (err: unknown) {
    throw transportError(url, err, timeoutMs);
  }
  if (res.statusCode !== 200) throw errorFromBody(url, res.statusCode, body, res.headers['x-modelpipe-error']);
  return body;
}

/**
 * A non-200 answer: a GraphPipe InferResponse with errors (modelpipe, asked by Accept),
 * or plain text (graphpipe-go; modelpipe without the Accept header, whose code is then
 * in `x-modelpipe-error`).
 */
function errorFromBody(url: string, status: number, body: Uint8Array, codeHeader: unknown): RemoteError {
  try {
    const r = decodeInferResponse(body);
    const e = r.errors[0];
    if (e) return RemoteError.fromWire(url, status, e.code, e.message);
  } catch {
    // not a flatbuffer: fall through to text
  }
  const text = new TextDecoder().decode(body.subarray(0, 1000)).trim();
  const code = typeof codeHeader === 'string' && isErrorCode(codeHeader) ? codeHeader : undefined;
  if (code && text) return new RemoteError(code, `${url}: ${text}`, { url, status, remoteCode: ERROR_CODES[code].num });
  return new RemoteError('MP_ERR_REMOTE', `${url}: HTTP ${status}${text ? `: ${text}` : ''}`, { url, status });
}

/**
 * GraphPipe tensors carry no names, so a server that ignores `output_names` (graphpipe-go's
 * gp.Serve does) would hand back the wrong tensors silently: the count must match.
 */
function checkOutputCount(url: string, outputs: Tensor[], wanted: readonly string[]): void {
  if (wanted.length === 0 || outputs.length === wanted.length) return;
  throw new RemoteError(
    'MP_ERR_BAD_RESPONSE',
    `${url}: asked for ${wanted.length} output${wanted.length === 1 ? '' : 's'} (${wanted.join(', ')}), the server returned ${outputs.length}: it may ignore output names`,
    { url },
  );
}

/** Sends tensors, returns tensors. Names may be omitted to use the server's defaults. */
export async function multiRemoteRaw(url: string, inputs: readonly Tensor[], opts: MultiOptions = {}): Promise<Tensor[]> {
  const req = {
    type: 'infer' as const,
    config: opts.config ?? '',
    inputNames: opts.inputNames ?? [],
    inputs: [...inputs],
    outputNames: opts.outputNames ?? [],
  };
  let total = 0;
  for (const t of inputs) total += t.byteLength;
  const chunks = total >= LARGE ? encodeRequestChunks(req) : [encodeRequest(req)];
  const body = await post(url, chunks, opts);
  let res: ReturnType<typeof decodeInferResponse>;
  try {
    res = decodeInferResponse(body);
  } catch (err: unknown) {
    throw new RemoteError('MP_ERR_BAD_RESPONSE', `${url}: unreadable response: ${(err as Error).message}`, { url, cause: err });
  }
  const e = res.errors[0];
  if (e) throw RemoteError.fromWire(url, 200, e.code, e.message);
  checkOutputCount(url, res.outputs, req.outputNames);
  return res.outputs;
}

const asTensor = (x: Tensor | Nested): Tensor => (isTensor(x) ? x : fromNested(x));

/** Nested arrays (or tensors) in, nested arrays out. */
export async function multiRemote(url: string, inputs: readonly (Tensor | Nested)[], opts: MultiOptions = {}): Promise<Nested[]> {
  return (await multiRemoteRaw(url, inputs.map(asTensor), opts)).map(toNested);
}

export type SingleOptions = CallOptions & { inputName?: string; outputName?: string };

/** One tensor in, the first requested output (or the server's first default) out. */
export async function remoteRaw(url: string, input: Tensor, opts: SingleOptions = {}): Promise<Tensor> {
  const out = await multiRemoteRaw(url, [input], {
    ...opts,
    ...(opts.inputName ? { inputNames: [opts.inputName] } : {}),
    ...(opts.outputName ? { outputNames: [opts.outputName] } : {}),
  });
  if (out[0] === undefined) throw new ModelpipeError('MP_ERR_BAD_RESPONSE', `${url}: response has no output tensors`, { url });
  return out[0];
}

/** Like remoteRaw, with nested arrays (or a tensor) in and nested arrays out. */
export async function remote(url: string, input: Tensor | Nested, opts: SingleOptions = {}): Promise<Nested> {
  return toNested(await remoteRaw(url, asTensor(input), opts));
}

/** The server's GraphPipe metadata (a flatbuffer MetadataRequest, as every GraphPipe server answers). */
export async function metadata(url: string, opts: CallOptions = {}): Promise<MetadataResponse> {
  const body = await post(url, [encodeRequest({ type: 'metadata' })], opts);
  try {
    return decodeMetadataResponse(body);
  } catch (err: unknown) {
    throw new RemoteError('MP_ERR_BAD_RESPONSE', `${url}: unreadable metadata: ${(err as Error).message}`, { url, cause: err });
  }
}
