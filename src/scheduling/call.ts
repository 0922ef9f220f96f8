import type { Tensor } from '../tensor/index.js';
import type { Cancellation } from './cancel.js';
import type { RequestTrace } from '../observe/tracing.js';

/*
 * The unit of work below the engine: what a frontend asks (InferCall) and what
 * validation hands the batcher (PreparedCall). Declared here, beneath both the
 * engine and the scheduler, so neither has to import the other to name it.
 */

/** A request as every frontend hands it to the core, before validation. */
export interface InferCall {
  /** Input names; empty means the model's default inputs, in order. */
  inputNames: readonly string[];
  inputs: readonly Tensor[];
  /** Output names; empty means the model's default outputs. */
  outputNames: readonly string[];
  config: string;
  /** Aborted when the caller goes away (library callers). */
  signal?: AbortSignal;
  /** The same, cheaper: what server frontends pass (see core/cancel.ts). */
  cancel?: Cancellation | undefined;
  /** Per-request timeout in ms (overrides the model's default). */
  timeoutMs?: number | undefined;
  /** The inputs' buffers belong to this call alone (may be transferred to a worker). */
  transferable?: boolean;
  /** Higher runs first when queued (default 0). */
  priority?: number;
  /** The request's trace (observe/tracing.ts requestTrace): undefined when untraced. */
  trace?: RequestTrace | undefined;
  /** ms the frontend spent turning the wire message into these tensors (the "decode" phase; absent in-process). */
  decodeMs?: number;
}

/** A validated call: inputs resolved by name, outputs resolved. */
export interface PreparedCall {
  inputs: Map<string, Tensor>;
  outputNames: string[];
  config: string;
}
