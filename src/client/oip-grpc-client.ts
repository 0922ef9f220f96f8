import { status } from '@grpc/grpc-js';
import { type ErrorCode, ERROR_CODES } from '../errors/index.js';
import {
  type GrpcTensor,
  type OipNamedTensor,
  bytesField,
  httpStatusOfGrpc,
  methodCodec,
  tensorFromGrpc,
  tensorToGrpc,
  parametersToGrpc,
  typedContentsPossible,
} from '../protocol/oip/index.js';
import type { Tensor } from '../tensor/index.js';
import { RemoteError } from './errors.js';
import { GrpcChannel, GrpcStatusError } from './grpc-channel.js';
import { type ClientSecurity, authHeaders, securityKey, securityOf, tlsOptions } from './security.js';

/**
 * The gRPC half of the Open Inference Protocol client: one HTTP/2 channel per
 * address, kept for reuse; unary calls with a deadline; errors as typed
 * RemoteErrors. Messages are (de)serialized with the service's proto
 * definition; raw tensor contents are appended to the message as their own
 * chunks, so a large input is never copied into a serialization buffer.
 */

const DEFAULT_MAX = 64 * 1024 * 1024;
const SERVICE = '/inference.GRPCInferenceService/';
const channels = new Map<string, GrpcChannel>();

function channel(url: string, sec: ClientSecurity): GrpcChannel {
  const secure = url.startsWith('grpcs://');
  const address = url.replace(/^grpcs?:\/\//, '').replace(/\/+$/, '');
  // Channels differ by TLS settings and token too (a digest of them, see security.ts).
  const key = `${secure ? 's' : ''}${address}#${securityKey(sec)}`;
  let c = channels.get(key);
  if (!c) {
    c = new GrpcChannel(address, { secure, tls: tlsOptions(sec), headers: authHeaders(sec) });
    channels.set(key, c);
  }
  return c;
}

/** Closes every cached channel (idle channels never hold the process open; this frees them now). */
export function closeGrpcClients(): void {
  for (const c of channels.values()) c.close();
  channels.clear();
}

function toRemoteError(url: string, method: string, err: GrpcStatusError, timeoutMs: number): RemoteError {
  const sent = err.metadata['x-modelpipe-error'];
  const code = sent !== undefined && Object.hasOwn(ERROR_CODES, sent) ? (sent as ErrorCode) : undefined;
  if (code) return new RemoteError(code, `${url}: ${err.details}`, { url, status: httpStatusOfGrpc(err.code) ?? 500, cause: err });
  if (err.code === status.DEADLINE_EXCEEDED)
    return new RemoteError('MP_ERR_TIMEOUT', `${url}: no answer within ${timeoutMs} ms`, { url, cause: err });
  if (err.code === status.UNAVAILABLE)
    return new RemoteError('MP_ERR_CONNECT', `${url}: cannot reach server (${err.details})`, { url, cause: err });
  if (err.code === status.CANCELLED) return new RemoteError('MP_ERR_CANCELLED', `${url}: request aborted`, { url, cause: err });
  return new RemoteError('MP_ERR_REMOTE', `${url}: ${method} failed: ${err.details}`, {
    url,
    status: httpStatusOfGrpc(err.code) ?? 502,
    cause: err,
  });
}

/** One unary call to `grpc://host:port`. */
export interface GrpcCallOptions {
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Largest response message accepted (default 64 MiB). */
  maxResponseBytes?: number | undefined;
  /** Already-encoded fields sent after the serialized request (raw tensors). */
  appended?: readonly Uint8Array[];
  /** CA, client certificate and bearer token (default: the process's, see security.ts). */
  security?: ClientSecurity | undefined;
}

export async function grpcCall<Res>(url: string, method: string, req: object, opts: GrpcCallOptions = {}): Promise<Res> {
  const c = methodCodec(method);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  try {
    const res = await channel(url, securityOf(opts.security)).unary(
      `${SERVICE}${method}`,
      [c.requestSerialize(req), ...(opts.appended ?? [])],
      {
        timeoutMs,
        signal: opts.signal,
        maxReceiveBytes: opts.maxResponseBytes ?? DEFAULT_MAX,
      },
    );
    return c.responseDeserialize(res) as Res;
  } catch (err: unknown) {
    if (err instanceof GrpcStatusError) throw toRemoteError(url, method, err, timeoutMs);
    throw new RemoteError('MP_ERR_BAD_RESPONSE', `${url}: unreadable ${method} response: ${(err as Error).message}`, { url, cause: err });
  }
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
  opts: { outputs?: string[]; classification?: number; raw?: boolean; version?: string; id?: string } & Omit<GrpcCallOptions, 'appended'>,
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
      outputs: (opts.outputs ?? []).map((name) =>
        opts.classification === undefined ? { name } : { name, parameters: parametersToGrpc({ classification: opts.classification }) },
      ),
    },
    {
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
      maxResponseBytes: opts.maxResponseBytes,
      security: opts.security,
      // raw_input_contents (field 7), each sent from the tensor's own memory.
      appended: raw ? msgs.flatMap((m) => bytesField(7, m.raw as Uint8Array)) : [],
    },
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
