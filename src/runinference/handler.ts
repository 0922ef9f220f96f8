/**
 * ModelHandler: the one interface between a RunInference step and a model.
 *
 * The step (run-inference.ts) owns batching, retries-by-dead-letter, metrics and
 * backpressure; a handler only knows how to load a model and run one batch. This is the
 * TypeScript counterpart of Apache Beam's `ModelHandler` (load_model / run_inference /
 * batch_elements_kwargs / get_num_bytes / get_metrics_namespace).
 *
 *   load()          Loads the model. Called by the step before the first batch. It must
 *                   be idempotent and shared: every pipeline step of one process that uses
 *                   the same handler (or an equal one, see onnx-handler.ts: one serving-engine
 *                   entry per file and settings) gets the same loaded model, so a model is
 *                   loaded once per process.
 *   isLoaded()      Whether load() has completed (the step records load latency only for
 *                   real loads, not for cache hits).
 *   unload()        Optional: frees the model (used by keyedModels' LRU eviction).
 *   runBatch(xs)    Runs one batch. `xs` are already-preprocessed examples of one shape
 *                   signature; the result has one prediction per example, in order, and the
 *                   id of the model version that produced them (a refreshed model changes it
 *                   between batches, never inside one). A thrown error fails the whole batch:
 *                   its examples go to the dead-letter output.
 *   batching        Hints like Beam's batch_elements_kwargs: min/max batch size, max wait,
 *                   max weight. The caller's RunInference options override them.
 *   signature(x)    Optional: the shape signature of an example. Examples with different
 *                   signatures are never put in the same batch. Default: tensor dtypes+shapes.
 *   weight(x)       Optional: the weight of one example for weight-limited batches (bytes,
 *                   tokens...). Default 1.
 *   byteSize()      Approximate size of the loaded model in bytes (metric model_byte_size).
 *   concurrency     Optional: batches the handler can run at once (e.g. its worker count).
 *   modelId         Id of the current model version (e.g. "squeezenet1.1.onnx@3f2a9c01").
 *   metricsNamespace Optional label for this handler's metrics.
 *   engine          Optional: the serving Engine the model runs on (local ONNX models, see
 *                   engine-batch.ts); the step's Beam metrics then join its registry.
 *
 * Pre- and post-processing are not part of runBatch: withPreprocess/withPostprocess wrap a
 * handler and the step applies them per example, outside the batch, so one bad example
 * goes to the dead-letter output alone instead of failing its whole batch (Beam does the same).
 */
import type { Engine } from '../core/engine.js';
import type { Tensor } from '../tensor/index.js';

/** Batching hints (Beam's batch_elements_kwargs). */
export interface BatchingHints {
  /** Smallest batch emitted eagerly when the input stalls. Default 1. */
  minBatchSize?: number;
  /** Largest batch. Default 32. */
  maxBatchSize?: number;
  /** Longest an example waits for its batch to fill, in ms (streams). Default 50. */
  maxWaitMs?: number;
  /** Largest total weight of one batch (see ModelHandler.weight). Default unlimited. */
  maxBatchWeight?: number;
}

/** What runBatch returns: one prediction per example and the model version that made them. */
export interface BatchResult<P> {
  predictions: P[];
  modelId: string;
}

export interface ModelHandler<E, P> {
  readonly modelId: string;
  readonly batching?: BatchingHints;
  readonly metricsNamespace?: string;
  readonly concurrency?: number;
  readonly engine?: Engine;
  load(): Promise<void>;
  isLoaded(): boolean;
  unload?(): Promise<void>;
  runBatch(examples: readonly E[]): Promise<BatchResult<P>>;
  signature?(example: E): string;
  weight?(example: E): number;
  byteSize(): number;
}

/** Beam's PredictionResult: the example, what the model said, and which model said it. */
export interface PredictionResult<E, P> {
  example: E;
  inference: P;
  modelId: string;
}

/** An example the pipeline could not process, with why and where. */
export interface DeadLetter<R = unknown> {
  key?: unknown;
  example: R;
  stage: 'preprocess' | 'inference' | 'postprocess';
  error: { code: string; message: string };
  modelId?: string;
}

/** A named remote inference call: the contract the server team's clients will implement. */
export type RemoteInfer = (inputs: Record<string, Tensor>) => Promise<Record<string, Tensor>>;

/**
 * A handler with per-example pre/post steps (what withPreprocess/withPostprocess build).
 * `inner` is the core handler the step batches for.
 */
export interface ProcessedHandler<R, O> extends ModelHandler<R, O> {
  readonly inner: ModelHandler<unknown, unknown>;
  readonly pre: readonly ((x: unknown) => unknown)[];
  readonly post: readonly ((p: unknown, x: unknown) => unknown)[];
}

export function isProcessed(h: ModelHandler<unknown, unknown>): h is ProcessedHandler<unknown, unknown> {
  return 'inner' in h && 'pre' in h && 'post' in h;
}

/** Splits any handler into its core and per-example steps (core handlers have none). */
export function planOf(h: ModelHandler<unknown, unknown>): ProcessedHandler<unknown, unknown> {
  if (isProcessed(h)) return h;
  return processed(h, [], []);
}

function processed(
  inner: ModelHandler<unknown, unknown>,
  pre: readonly ((x: unknown) => unknown)[],
  post: readonly ((p: unknown, x: unknown) => unknown)[],
): ProcessedHandler<unknown, unknown> {
  const h: ProcessedHandler<unknown, unknown> = {
    inner,
    pre,
    post,
    get modelId() {
      return inner.modelId;
    },
    ...(inner.batching === undefined ? {} : { batching: inner.batching }),
    ...(inner.metricsNamespace === undefined ? {} : { metricsNamespace: inner.metricsNamespace }),
    ...(inner.concurrency === undefined ? {} : { concurrency: inner.concurrency }),
    ...(inner.engine === undefined ? {} : { engine: inner.engine }),
    load: () => inner.load(),
    isLoaded: () => inner.isLoaded(),
    byteSize: () => inner.byteSize(),
    // Direct use outside the engine: apply every step in line (a failure fails the batch).
    async runBatch(raw) {
      const xs: unknown[] = [];
      for (const r of raw) {
        let x: unknown = r;
        for (const f of pre) x = await f(x);
        xs.push(x);
      }
      const res = await inner.runBatch(xs);
      const out: unknown[] = [];
      for (let i = 0; i < res.predictions.length; i++) {
        let p: unknown = res.predictions[i];
        for (const f of post) p = await f(p, raw[i]);
        out.push(p);
      }
      return { predictions: out, modelId: res.modelId };
    },
  };
  if (inner.unload) h.unload = () => (inner.unload as () => Promise<void>)();
  return h;
}

/** Preprocessing applied per example before batching (Beam's with_preprocess_fn). */
export function withPreprocess<R, E, P>(handler: ModelHandler<E, P>, fn: (raw: R) => E | Promise<E>): ModelHandler<R, P> {
  const p = planOf(handler as ModelHandler<unknown, unknown>);
  return processed(p.inner, [fn as (x: unknown) => unknown, ...p.pre], p.post) as unknown as ModelHandler<R, P>;
}

/** Postprocessing applied per prediction after the batch (Beam's with_postprocess_fn). */
export function withPostprocess<E, P, Q>(handler: ModelHandler<E, P>, fn: (pred: P, example: E) => Q | Promise<Q>): ModelHandler<E, Q> {
  const p = planOf(handler as ModelHandler<unknown, unknown>);
  return processed(p.inner, p.pre, [...p.post, fn as (p: unknown, x: unknown) => unknown]) as unknown as ModelHandler<E, Q>;
}
