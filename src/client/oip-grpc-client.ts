import { type Client, Metadata, type ServiceError, credentials, status } from '@grpc/grpc-js';
import { type ErrorCode, ERROR_CODES } from '../errors/index.js';
import {
  type GrpcTensor,
  type OipNamedTensor,
  inferenceService,
  tensorFromGrpc,
  tensorToGrpc,
  typedContentsPossible,
} from '../protocol/oip/index.js';
import type { Tensor } from '../tensor/index.js';
import { RemoteError } from './errors.js';

/**
 * The gRPC half of the Open Inference Protocol client: one channel per address,
 * kept for reuse; unary calls with a deadline; errors as typed RemoteErrors.
 */

const DEFAULT_MAX = 64 * 1024 * 1024;
const clients = new Map<string, Client>();

function client(address: string): Client {
  let c = clients.get(address);
  if (!c) {
    const Ctor = inferenceService();
    c = new Ctor(address, credentials.createInsecure(), {
      'grpc.max_receive_message_length': DEFAULT_MAX,
      'grpc.max_send_message_length': DEFAULT_MAX,
    });
    clients.set(address, c);
  }
  return c;
}

/** Closes every cached channel (lets a process exit promptly). */
export function closeGrpcClients(): void {
  for (const c of clients.values()) c.close();
  clients.clear();
}

const HTTP_OF: Partial<Record<status, number>> = {
  [status.INVALID_ARGUMENT]: 400,
  [status.NOT_FOUND]: 404,
  [status.UNAVAILABLE]: 503,
  [status.DEADLINE_EXCEEDED]: 504,
  [status.RESOURCE_EXHAUSTED]: 413,
  [status.CANCELLED]: 499,
};

function toRemoteError(url: string, method: string, err: ServiceError, timeoutMs: number): RemoteError {
  const sent = err.metadata?.get('x-modelpipe-error')[0];
  const code = typeof sent === 'string' && Object.hasOwn(ERROR_CODES, sent) ? (sent as ErrorCode) : undefined;
  if (code) return new RemoteError(code, `${url}: ${err.details}`, { url, status: HTTP_OF[err.code] ?? 500, cause: err });
  if (err.code === status.DEADLINE_EXCEEDED)
    return new RemoteError('MP_ERR_TIMEOUT', `${url}: no answer within ${timeoutMs} ms`, { url, cause: err });
  if (err.code === status.UNAVAILABLE)
    return new RemoteError('MP_ERR_CONNECT', `${url}: cannot reach server (${err.details})`, { url, cause: err });
  if (err.code === status.CANCELLED) return new RemoteError('MP_ERR_CANCELLED', `${url}: request aborted`, { url, cause: err });
  return new RemoteError('MP_ERR_REMOTE', `${url}: ${method} failed: ${err.details}`, {
    url,
    status: HTTP_OF[err.code] ?? 502,
    cause: err,
  });
}

/** One unary call to `grpc://host:port`. */
export function grpcCall<Res>(url: string, method: string, req: object, timeoutMs = 60_000, signal?: AbortSignal): Promise<Res> {
  const address = url.replace(/^grpc:\/\//, '').replace(/\/+$/, '');
  const c = client(address) as unknown as Record<
    string,
    (req: object, md: Metadata, opts: { deadline: Date }, cb: (err: ServiceError | null, res: Res) => void) => { cancel(): void }
  >;
  return new Promise((resolve, reject) => {
    const fn = c[method] as NonNullable<(typeof c)[string]>;
    const call = fn.call(c, req, new Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => {
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(toRemoteError(url, method, err, timeoutMs));
      else resolve(res);
    });
    const onAbort = (): void => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

interface InferResponseMsg {
  model_name: string;
  model_version: string;
  id: string;
  outputs: GrpcTensor[];
  raw_output_contents: Uint8Array[];
}

/** ModelInfer: `raw` sends raw_input_contents (forced for FP16, which has no typed field). */
export async function grpcInfer(
  url: string,
  model: string,
  inputs: readonly OipNamedTensor[],
  opts: { outputs?: string[]; raw?: boolean; version?: string; id?: string; timeoutMs?: number; signal?: AbortSignal },
): Promise<{ modelName: string; modelVersion: string; id: string; outputs: OipNamedTensor[] }> {
  const raw = opts.raw === true || !typedContentsPossible(inputs.map((i) => i.tensor));
  const msgs = inputs.map((i) => tensorToGrpc(i.name, i.tensor, raw));
  const res = await grpcCall<InferResponseMsg>(
    url,
    'ModelInfer',
    {
      model_name: model,
      model_version: opts.version ?? '',
      id: opts.id ?? '',
      inputs: msgs.map((m) => m.msg),
      outputs: (opts.outputs ?? []).map((name) => ({ name })),
      raw_input_contents: raw ? msgs.map((m) => m.raw as Uint8Array) : [],
    },
    opts.timeoutMs,
    opts.signal,
  );
  const rawOut = res.raw_output_contents ?? [];
  let outputs: OipNamedTensor[];
  try {
    outputs = res.outputs.map((t, i) => ({
      name: t.name,
      tensor: tensorFromGrpc(t, rawOut.length > 0 ? rawOut[i] : undefined, `output ${t.name}`) as Tensor,
    }));
  } catch (err: unknown) {
    throw new RemoteError('MP_ERR_BAD_RESPONSE', `${url}: unreadable ModelInfer response: ${(err as Error).message}`, { url, cause: err });
  }
  return { modelName: res.model_name, modelVersion: res.model_version, id: res.id, outputs };
}
