import type { TraceContext } from '../observe/tracing.js';
import type { OipModelMetadata, OipNamedTensor } from '../protocol/oip/index.js';
import type { Tensor } from '../tensor/index.js';
import type { ClientSecurity } from './security.js';

/**
 * What an Open Inference Protocol client needs from a transport (REST in
 * oip-rest.ts, gRPC in oip-grpc-client.ts): one method per protocol call. A new
 * transport implements this interface and OipClient picks it by name; the client
 * itself keeps the open/closed state, the defaults and the security.
 */

/** One call's settings, already resolved by the client. */
export interface WireCall {
  security: ClientSecurity;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** The trace context the call continues (a model run's: RunRequest.trace); absent = the one a synchronous model run set. */
  trace?: TraceContext | undefined;
}

export interface WireInfer extends WireCall {
  outputs?: string[] | undefined;
  classification?: number | undefined;
  /** Binary tensor data (REST extension) or raw contents (gRPC). */
  binary: boolean;
  version?: string | undefined;
  id?: string | undefined;
  /** gRPC: the largest response message accepted. */
  maxResponseBytes?: number | undefined;
}

export interface OipResult {
  modelName: string;
  modelVersion: string;
  id: string | undefined;
  /** Output tensors by name, in the server's order. */
  outputs: Record<string, Tensor>;
}

/** GET /v2 (ServerMetadata). */
export interface OipServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

/** The statistics extension's answer, as the server sent it (Triton's field names). */
export type OipStatistics = { model_stats?: Record<string, unknown>[] } & Record<string, unknown>;

export interface OipWire {
  infer(model: string, inputs: readonly OipNamedTensor[], o: WireInfer): Promise<OipResult>;
  modelMetadata(model: string, version: string | undefined, o: WireCall): Promise<OipModelMetadata>;
  health(what: 'live' | 'ready', o: WireCall): Promise<boolean>;
  modelReady(model: string, version: string | undefined, o: WireCall): Promise<boolean>;
  serverMetadata(o: WireCall): Promise<OipServerMetadata>;
  /** Undefined model: every model's statistics. */
  modelStatistics(model: string | undefined, version: string | undefined, o: WireCall): Promise<OipStatistics>;
  /** The model's configuration (Triton's ModelConfig names). */
  modelConfig(model: string, version: string | undefined, o: WireCall): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export function byName(outputs: readonly OipNamedTensor[]): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const o of outputs) out[o.name] = o.tensor;
  return out;
}
