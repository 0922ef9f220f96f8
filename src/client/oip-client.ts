import { Readable } from 'node:stream';
import { type Dispatcher, request } from 'undici';
import { type ErrorCode, ERROR_CODES, ModelpipeError } from '../errors/index.js';
import { HEADER_LENGTH, type OipNamedTensor, encodeInferRequest, parseInferResponse } from '../protocol/oip/index.js';
import type { OipModelMetadata } from '../protocol/oip/index.js';
import { type Nested, type Tensor, fromNested, isTensor } from '../tensor/index.js';
import { RemoteError, transportError } from './errors.js';
import { defaultDispatcher } from './graphpipe-client.js';
import { closeGrpcClients, grpcCall, grpcInfer } from './oip-grpc-client.js';
import { type ClientSecurity, authHeaders, hasTls, securityOf, tlsDispatcher } from './security.js';

/**
 * Open Inference Protocol (KServe v2) client. `url` picks the transport:
 * http(s)://host:port speaks REST (JSON, or the binary extension with
 * `binary: true`), grpc://host:port speaks gRPC (`binary` selects raw contents).
 * Errors are RemoteErrors with the server's stable code, as with the GraphPipe client.
 */

export interface OipCallOptions {
  /** Outputs to return (default: the model's default outputs). */
  outputs?: string[];
  /** The classification extension: each of `outputs` comes back as its top k, "score:index[:label]" strings. */
  classification?: number;
  /** Binary tensor data (REST extension) or raw contents (gRPC) both ways (default true). */
  binary?: boolean;
  version?: string;
  id?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  dispatcher?: Dispatcher;
  /** gRPC: the largest response message accepted (default 64 MiB). */
  maxResponseBytes?: number;
  /** CA, client certificate and bearer token (default: the process's, see security.ts). */
  security?: ClientSecurity;
}

export interface OipResult {
  modelName: string;
  modelVersion: string;
  id: string | undefined;
  /** Output tensors by name, in the server's order. */
  outputs: Record<string, Tensor>;
}

export type OipInputs = Record<string, Tensor | Nested> | readonly OipNamedTensor[];

/** grpc:// is cleartext HTTP/2, grpcs:// is gRPC over TLS. */
const isGrpc = (url: string): boolean => url.startsWith('grpc://') || url.startsWith('grpcs://');
const LARGE = 1 << 16;

function named(inputs: OipInputs): OipNamedTensor[] {
  if (Array.isArray(inputs)) return [...(inputs as readonly OipNamedTensor[])];
  return Object.entries(inputs as Record<string, Tensor | Nested>).map(([name, v]) => ({ name, tensor: isTensor(v) ? v : fromNested(v) }));
}

function modelPath(model: string, version: string | undefined): string {
  return `/v2/models/${encodeURIComponent(model)}${version ? `/versions/${encodeURIComponent(version)}` : ''}`;
}

async function rest(
  url: string,
  method: 'GET' | 'POST',
  path: string,
  opts: Pick<OipCallOptions, 'timeoutMs' | 'signal' | 'dispatcher' | 'security'>,
  body?: { chunks: Uint8Array[]; headers: Record<string, string> },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Uint8Array }> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const target = `${url.replace(/\/+$/, '')}${path}`;
  const timeout = AbortSignal.timeout(timeoutMs);
  const sec = securityOf(opts.security);
  let res: Dispatcher.ResponseData;
  try {
    let total = 0;
    for (const c of body?.chunks ?? []) total += c.length;
    res = await request(target, {
      method,
      // Large bodies go out as their chunks: tensor payloads are never copied.
      ...(body
        ? {
            body: total >= LARGE ? Readable.from(body.chunks, { objectMode: false }) : Buffer.concat(body.chunks),
            headers: { ...body.headers, 'content-length': String(total), ...authHeaders(sec) },
          }
        : { headers: authHeaders(sec) }),
      dispatcher: opts.dispatcher ?? (hasTls(sec) ? tlsDispatcher(sec) : defaultDispatcher()),
      signal: AbortSignal.any([timeout, ...(opts.signal ? [opts.signal] : [])]),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
  } catch (err: unknown) {
    if (opts.signal?.aborted) throw transportError(target, Object.assign(new Error('aborted'), { name: 'AbortError' }), timeoutMs);
    if (timeout.aborted) throw transportError(target, Object.assign(new Error('timeout'), { name: 'TimeoutError' }), timeoutMs);
    throw transportError(target, err, timeoutMs);
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await res.body.arrayBuffer());
  } catch (err: unknown) {
    throw transportError(target, err, timeoutMs);
  }
  return { status: res.statusCode, headers: res.headers, body: bytes };
}

/** A non-2xx answer: {"error": message}, with our stable code in x-modelpipe-error when the server is modelpipe. */
function restError(url: string, status: number, headers: Record<string, string | string[] | undefined>, body: Uint8Array): RemoteError {
  const sent = headers['x-modelpipe-error'];
  const code = typeof sent === 'string' && Object.hasOwn(ERROR_CODES, sent) ? (sent as ErrorCode) : 'MP_ERR_REMOTE';
  const text = new TextDecoder().decode(body.subarray(0, 2000)).trim();
  let message = text;
  try {
    const j = JSON.parse(text) as { error?: unknown };
    if (typeof j.error === 'string') message = j.error;
  } catch {
    // not JSON: keep the text
  }
  return new RemoteError(code, `${url}: ${message || `HTTP ${status}`}`, { url, status });
}

/** Runs `model` on named inputs; returns the outputs by name. */
export async function infer(url: string, model: string, inputs: OipInputs, opts: OipCallOptions = {}): Promise<OipResult> {
  const list = named(inputs);
  const binary = opts.binary ?? true;
  if (isGrpc(url)) {
    const r = await grpcInfer(url, model, list, { ...opts, raw: binary });
    return { modelName: r.modelName, modelVersion: r.modelVersion, id: r.id || undefined, outputs: byName(r.outputs) };
  }
  const enc = encodeInferRequest(
    { ...(opts.id !== undefined ? { id: opts.id } : {}), inputs: list, outputs: (opts.outputs ?? []).map((name) => requested(name, opts)) },
    { binary, binaryOutputs: binary },
  );
  const headers: Record<string, string> = { 'content-type': enc.contentType };
  if (enc.headerLength !== undefined) headers[HEADER_LENGTH] = String(enc.headerLength);
  const res = await rest(url, 'POST', `${modelPath(model, opts.version)}/infer`, opts, { chunks: enc.chunks, headers });
  if (res.status !== 200) throw restError(url, res.status, res.headers, res.body);
  try {
    const r = parseInferResponse(res.body, res.headers[HEADER_LENGTH] as string | undefined);
    return { modelName: r.modelName, modelVersion: r.modelVersion, id: r.id, outputs: byName(r.outputs) };
  } catch (err: unknown) {
    throw new RemoteError('MP_ERR_BAD_RESPONSE', `${url}: unreadable inference response: ${(err as Error).message}`, { url, cause: err });
  }
}

function requested(name: string, opts: Pick<OipCallOptions, 'classification'>): { name: string; parameters?: { classification: number } } {
  return opts.classification === undefined ? { name } : { name, parameters: { classification: opts.classification } };
}

function byName(outputs: readonly OipNamedTensor[]): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const o of outputs) out[o.name] = o.tensor;
  return out;
}

/** The model's metadata (name, versions, platform, inputs, outputs). */
export async function modelMetadata(
  url: string,
  model: string,
  opts: Pick<OipCallOptions, 'version' | 'timeoutMs' | 'signal' | 'security'> = {},
): Promise<OipModelMetadata> {
  if (isGrpc(url)) {
    const r = await grpcCall<OipModelMetadata & { inputs: { shape: string[] }[] }>(
      url,
      'ModelMetadata',
      { name: model, version: opts.version ?? '' },
      { timeoutMs: opts.timeoutMs, signal: opts.signal, security: opts.security },
    );
    const io = (t: { name: string; datatype: string; shape: (string | number)[] }) => ({ ...t, shape: t.shape.map(Number) });
    return { name: r.name, versions: r.versions, platform: r.platform, inputs: r.inputs.map(io), outputs: r.outputs.map(io) };
  }
  const res = await rest(url, 'GET', modelPath(model, opts.version), opts);
  if (res.status !== 200) throw restError(url, res.status, res.headers, res.body);
  try {
    return JSON.parse(new TextDecoder().decode(res.body)) as OipModelMetadata;
  } catch (err: unknown) {
    throw new ModelpipeError('MP_ERR_BAD_RESPONSE', `${url}: unreadable metadata: ${(err as Error).message}`, { url });
  }
}

async function health(
  url: string,
  what: 'live' | 'ready',
  opts: Pick<OipCallOptions, 'timeoutMs' | 'signal' | 'security'>,
): Promise<boolean> {
  if (isGrpc(url)) {
    const r = await grpcCall<{ live?: boolean; ready?: boolean }>(
      url,
      what === 'live' ? 'ServerLive' : 'ServerReady',
      {},
      { timeoutMs: opts.timeoutMs, signal: opts.signal, security: opts.security },
    );
    return (what === 'live' ? r.live : r.ready) === true;
  }
  return (await rest(url, 'GET', `/v2/health/${what}`, opts)).status === 200;
}

export const serverLive = (url: string, opts: Pick<OipCallOptions, 'timeoutMs' | 'signal' | 'security'> = {}): Promise<boolean> =>
  health(url, 'live', opts);
export const serverReady = (url: string, opts: Pick<OipCallOptions, 'timeoutMs' | 'signal' | 'security'> = {}): Promise<boolean> =>
  health(url, 'ready', opts);

/** Whether a model (version) is ready; false for not-ready models, RemoteError (404) for unknown ones. */
export async function modelReady(
  url: string,
  model: string,
  opts: Pick<OipCallOptions, 'version' | 'timeoutMs' | 'signal' | 'security'> = {},
): Promise<boolean> {
  if (isGrpc(url)) {
    const r = await grpcCall<{ ready: boolean }>(
      url,
      'ModelReady',
      { name: model, version: opts.version ?? '' },
      { timeoutMs: opts.timeoutMs, signal: opts.signal, security: opts.security },
    );
    return r.ready;
  }
  const res = await rest(url, 'GET', `${modelPath(model, opts.version)}/ready`, opts);
  if (res.status === 200) return true;
  if (res.status === 503) return false;
  throw restError(url, res.status, res.headers, res.body);
}

export { closeGrpcClients };
