import { status } from '@grpc/grpc-js';
import { type ErrorCode, ERROR_CODES } from '../errors/index.js';
import {
  type GrpcTensor,
  type OipModelMetadata,
  type OipNamedTensor,
  bytesField,
  httpStatusOfGrpc,
  methodCodec,
  parametersToGrpc,
  tensorFromGrpc,
  tensorToGrpc,
  typedContentsPossible,
} from '../protocol/oip/index.js';
import type { Tensor } from '../tensor/index.js';
import { RemoteError } from './errors.js';
import { GrpcChannel, GrpcStatusError } from './grpc-channel.js';
import {
  type OipResult,
  type OipServerMetadata,
  type OipStatistics,
  type OipWire,
  type WireCall,
  type WireInfer,
  byName,
} from './oip-wire.js';
import { type ClientSecurity, PerSecurity, authHeaders, securityKey, securityOf, tlsOptions } from './security.js';
import { ClientTarget } from './target.js';

/**
 * The gRPC transport of the Open Inference Protocol client: HTTP/2 channels of its
 * own (one per distinct security settings, since the token travels as a channel
 * header), unary calls with a deadline, errors as typed RemoteErrors. Messages are
 * (de)serialized with the service's proto definition; raw tensor contents are
 * appended to the message as their own chunks, so a large input is never copied
 * into a serialization buffer.
 */

const DEFAULT_MAX = 64 * 1024 * 1024;
const SERVICE = '/inference.GRPCInferenceService/';

interface InferResponseMsg {
  model_name: string;
  model_version: string;
  id: string;
  outputs: GrpcTensor[];
  raw_output_contents: Uint8Array[];
}

type NamedResult = { modelName: string; modelVersion: string; id: string; outputs: OipNamedTensor[] };

export class GrpcWire implements OipWire {
  readonly #channels: PerSecurity<GrpcChannel>;

  constructor(private readonly target: ClientTarget) {
    const { authority, secure } = target.grpcAuthority();
    this.#channels = new PerSecurity(
      securityKey,
      (s) => new GrpcChannel(authority, { secure, tls: tlsOptions(s), headers: authHeaders(s) }),
      (c) => c.close(),
    );
  }

  /** One unary call; `appended`: already-encoded fields sent after the serialized request (raw tensors). */
  async call<Res>(
    method: string,
    req: object,
    o: WireCall & { maxResponseBytes?: number | undefined },
    appended: readonly Uint8Array[] = [],
  ): Promise<Res> {
    const c = methodCodec(method);
    const url = this.target.url;
    const channel = this.#channels.get(o.security);
    try {
      const res = await channel.unary(`${SERVICE}${method}`, [c.requestSerialize(req), ...appended], {
        timeoutMs: o.timeoutMs,
        signal: o.signal,
        trace: o.trace,
        maxReceiveBytes: o.maxResponseBytes ?? DEFAULT_MAX,
      });
      return c.responseDeserialize(res) as Res;
    } catch (err: unknown) {
      if (err instanceof GrpcStatusError) throw toRemoteError(url, method, err, o.timeoutMs);
      throw new RemoteError('MP_ERR_BAD_RESPONSE', `${url}: unreadable ${method} response: ${(err as Error).message}`, { url, cause: err });
    }
  }

  /** ModelInfer with the outputs in the server's order; `binary` sends raw_input_contents (forced for FP16, which has no typed field). */
  async inferNamed(model: string, inputs: readonly OipNamedTensor[], o: WireInfer): Promise<NamedResult> {
    const raw = o.binary || !typedContentsPossible(inputs.map((i) => i.tensor));
    const msgs = inputs.map((i) => tensorToGrpc(i.name, i.tensor, raw));
    const outputs = (o.outputs ?? []).map((name) =>
      o.classification === undefined ? { name } : { name, parameters: parametersToGrpc({ classification: o.classification }) },
    );
    const req = { model_name: model, model_version: o.version ?? '', id: o.id ?? '', inputs: msgs.map((m) => m.msg), outputs };
    // raw_input_contents (field 7), each sent from the tensor's own memory.
    const appended = raw ? msgs.flatMap((m) => bytesField(7, m.raw as Uint8Array)) : [];
    const res = await this.call<InferResponseMsg>('ModelInfer', req, o, appended);
    const rawOut = res.raw_output_contents ?? [];
    try {
      const named = res.outputs.map((t, i) => ({
        name: t.name,
        tensor: tensorFromGrpc(t, rawOut.length > 0 ? rawOut[i] : undefined, `output ${t.name}`) as Tensor,
      }));
      return { modelName: res.model_name, modelVersion: res.model_version, id: res.id, outputs: named };
    } catch (err: unknown) {
      const url = this.target.url;
      throw new RemoteError('MP_ERR_BAD_RESPONSE', `${url}: unreadable ModelInfer response: ${(err as Error).message}`, {
        url,
        cause: err,
      });
    }
  }

  async infer(model: string, inputs: readonly OipNamedTensor[], o: WireInfer): Promise<OipResult> {
    const r = await this.inferNamed(model, inputs, o);
    return { modelName: r.modelName, modelVersion: r.modelVersion, id: r.id || undefined, outputs: byName(r.outputs) };
  }

  async modelMetadata(model: string, version: string | undefined, o: WireCall): Promise<OipModelMetadata> {
    type Io = { name: string; datatype: string; shape: (string | number)[] };
    const r = await this.call<OipModelMetadata & { inputs: Io[]; outputs: Io[] }>(
      'ModelMetadata',
      { name: model, version: version ?? '' },
      o,
    );
    // int64 dims arrive as strings.
    const io = (t: Io) => ({ ...t, shape: t.shape.map(Number) });
    return { name: r.name, versions: r.versions, platform: r.platform, inputs: r.inputs.map(io), outputs: r.outputs.map(io) };
  }

  async health(what: 'live' | 'ready', o: WireCall): Promise<boolean> {
    const r = await this.call<{ live?: boolean; ready?: boolean }>(what === 'live' ? 'ServerLive' : 'ServerReady', {}, o);
    return (what === 'live' ? r.live : r.ready) === true;
  }

  async modelReady(model: string, version: string | undefined, o: WireCall): Promise<boolean> {
    return (await this.call<{ ready: boolean }>('ModelReady', { name: model, version: version ?? '' }, o)).ready;
  }

  serverMetadata(o: WireCall): Promise<OipServerMetadata> {
    return this.call<OipServerMetadata>('ServerMetadata', {}, o);
  }

  modelStatistics(model: string | undefined, version: string | undefined, o: WireCall): Promise<OipStatistics> {
    return this.call<OipStatistics>('ModelStatistics', { name: model ?? '', version: version ?? '' }, o);
  }

  async modelConfig(model: string, version: string | undefined, o: WireCall): Promise<Record<string, unknown>> {
    return (await this.call<{ config: Record<string, unknown> }>('ModelConfig', { name: model, version: version ?? '' }, o)).config;
  }

  close(): Promise<void> {
    return this.#channels.closeAll();
  }
}

function toRemoteError(url: string, method: string, err: GrpcStatusError, timeoutMs: number): RemoteError {
  const sent = err.metadata['x-modelpipe-error'];
  const code = sent !== undefined && Object.hasOwn(ERROR_CODES, sent) ? (sent as ErrorCode) : undefined;
  // gRPC's pushback (A6: "retry no sooner than"): the server is throttling, as HTTP's 429 with Retry-After.
  const pushback = Number(err.metadata['grpc-retry-pushback-ms'] ?? Number.NaN);
  if (pushback >= 0)
    return new RemoteError(code ?? 'MP_ERR_REMOTE', `${url}: ${err.details}`, { url, status: 429, retryAfterMs: pushback, cause: err });
  if (code) return new RemoteError(code, `${url}: ${err.details}`, { url, status: httpStatusOfGrpc(err.code) ?? 500, cause: err });
  if (err.code === status.DEADLINE_EXCEEDED)
    return new RemoteError('MP_ERR_TIMEOUT', `${url}: no answer within ${timeoutMs} ms`, { url, cause: err });
  if (err.code === status.UNAVAILABLE) {
    // A proxy's 503 or 429 keeps its status (failover reads it), a lost connection says how it was lost;
    // a server's own UNAVAILABLE is gRPC's "try again", a 503.
    const how = err.httpStatus !== undefined ? { status: err.httpStatus } : err.failure ? { failure: err.failure } : { status: 503 };
    return new RemoteError('MP_ERR_CONNECT', `${url}: cannot reach server (${err.details})`, { url, cause: err, ...how });
  }
  if (err.code === status.CANCELLED) return new RemoteError('MP_ERR_CANCELLED', `${url}: request aborted`, { url, cause: err });
  return new RemoteError('MP_ERR_REMOTE', `${url}: ${method} failed: ${err.details}`, {
    url,
    status: httpStatusOfGrpc(err.code) ?? 502,
    cause: err,
  });
}

/*
 * The process-wide gRPC wires behind the functional helpers: one per address (each
 * with its channels), kept for reuse as the channels always were, and closed by
 * closeDefaultClients(). Client objects own wires of their own instead.
 */
const shared = new Map<string, GrpcWire>();

export function sharedGrpcWire(url: string): GrpcWire {
  const target = new ClientTarget(url);
  const { authority, secure } = target.grpcAuthority();
  const key = `${secure ? 's' : ''}${authority}`;
  let w = shared.get(key);
  if (!w) {
    w = new GrpcWire(target);
    shared.set(key, w);
  }
  return w;
}

export async function closeSharedGrpcWires(): Promise<void> {
  const all = [...shared.values()];
  shared.clear();
  await Promise.all(all.map((w) => w.close()));
}

/** One call's options for the gRPC functional helpers. */
export interface GrpcCallOptions {
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Largest response message accepted (default 64 MiB). */
  maxResponseBytes?: number | undefined;
  /** CA, client certificate and bearer token (default: the process's, see security.ts). */
  security?: ClientSecurity | undefined;
}

const wireCall = (o: GrpcCallOptions) => ({
  security: securityOf(o.security),
  timeoutMs: o.timeoutMs ?? 60_000,
  signal: o.signal,
  maxResponseBytes: o.maxResponseBytes,
});

/** @deprecated use an OipClient with transport 'grpc' (modelStatistics, modelConfig…) */
export function grpcCall<Res>(url: string, method: string, req: object, opts: GrpcCallOptions = {}): Promise<Res> {
  return sharedGrpcWire(url).call<Res>(method, req, wireCall(opts));
}

/** @deprecated use an OipClient with transport 'grpc' (its infer); `raw` sends raw_input_contents. */
export function grpcInfer(
  url: string,
  model: string,
  inputs: readonly OipNamedTensor[],
  opts: { outputs?: string[]; classification?: number; raw?: boolean; version?: string; id?: string } & GrpcCallOptions,
): Promise<NamedResult> {
  return sharedGrpcWire(url).inferNamed(model, inputs, { ...opts, ...wireCall(opts), binary: opts.raw === true });
}
