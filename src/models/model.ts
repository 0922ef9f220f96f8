import type { TraceContext } from '../observe/tracing.js';
import type { DType, Tensor } from '../tensor/index.js';

/**
 * The Model interface: what every backend (ONNX in worker threads, TypeScript
 * functions, remote GraphPipe servers) implements, and all the server core knows
 * about a model. Protocol frontends never see a Model; they call the engine.
 */

/** One input or output as the model declares it. -1 in `shape` means any size. */
export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: number[];
  description?: string;
}

export interface ModelMetadata {
  name: string;
  version: string;
  description: string;
  /** Server name reported in GraphPipe metadata. */
  server: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Inputs assumed, in order, when a request gives tensors without names. */
  defaultInputs: string[];
  /** Outputs returned when a request names none (empty: the request must name them). */
  defaultOutputs: string[];
  /** Free-form fields from a model's configuration (labels, preprocessing preset, platform) carried for clients. */
  extra?: Record<string, unknown>;
}

export interface RunRequest {
  /** Validated inputs by name. */
  inputs: ReadonlyMap<string, Tensor>;
  /** Outputs wanted, in the order to return them. */
  outputNames: readonly string[];
  /** The request's GraphPipe config string ('' when none). */
  config: string;
  /** Aborted when nobody waits for the result any more. */
  signal: AbortSignal;
  /**
   * True when the inputs' ArrayBuffers belong to this request alone, so a backend
   * may transfer (detach) them instead of copying, e.g. into a worker thread.
   */
  transferable: boolean;
  /**
   * The trace context of this run (its compute span) when traced: a model that calls
   * other services passes it to those calls (the client option `trace`), so they
   * continue the request's trace. Explicit, not an AsyncLocalStorage: in Node 20 that
   * taxes every promise in the process (RESULTS, "Tracing, second design").
   */
  readonly trace?: TraceContext | undefined;
}

export interface Model {
  readonly metadata: ModelMetadata;
  /** How many runs may execute at once (worker threads, sessions, sockets). */
  readonly instances: number;
  /**
   * Whether dimension 0 of every input and output is a free batch dimension, so
   * requests may be merged along it. False for fixed-batch models (mnist: batch 1).
   */
  readonly batchable: boolean;
  /**
   * Whether one batch split across idle instances finishes sooner (instances that
   * compute in parallel, like onnxruntime worker threads). Absent = false: a JS
   * function's "instances" share one thread, so splitting would only add work.
   */
  readonly fanout?: boolean;
  /** Where runs execute (reported by the model configuration extension); absent = cpu. */
  readonly device?: 'cpu' | 'cuda';
  /**
   * Whether `metadata` states exactly what the model accepts, so requests may be
   * checked against it before they run. Absent = true. False for a remote server whose
   * metadata is approximate (graphpipe-go's gp.Serve reports int64 and rank-only
   * shapes): requests then pass through and the model itself answers.
   */
  readonly exactMetadata?: boolean;
  /** Runs one (possibly merged) request; returns tensors in `outputNames` order. */
  run(req: RunRequest): Promise<Tensor[]>;
  /**
   * The scheduler gave up on `req` (a run of this model): it outlived its timeout and
   * its slot went to other work. A backend that can reclaim the instance does so
   * (ONNX retires the worker once that run returns and starts a new one); run()'s promise should then settle.
   */
  abandon?(req: RunRequest): void;
  /** Releases workers, sessions and connections. */
  close(): Promise<void>;
}

/** Dimension 0 is batchable when every input and output declares it free (-1). */
export function inferBatchable(md: Pick<ModelMetadata, 'inputs' | 'outputs'>): boolean {
  const all = [...md.inputs, ...md.outputs];
  return all.length > 0 && all.every((s) => s.shape.length > 0 && s.shape[0] === -1);
}

/**
 * The `server` string of GraphPipe metadata that modelpipe writes. Its servers validate
 * every request against the metadata they report, so that metadata is exact; a proxy
 * for an inexact target reports the target's own server string instead.
 */
export const EXACT_METADATA_SERVER = 'modelpipe';

/** Whether GraphPipe metadata with this `server` string is known to be exact. */
export function serverHasExactMetadata(server: string): boolean {
  return server === EXACT_METADATA_SERVER;
}
