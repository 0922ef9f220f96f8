import { ModelpipeError } from '../errors/index.js';
import { Tensor, batchSignature } from '../tensor/index.js';
import type { BatchingHints, BatchResult, ModelHandler } from './handler.js';

/**
 * @deprecated Use `batchSignature` (tensor/signature.ts), the one batch signature of
 * both batching strategies. Dimension 0 no longer splits batches: examples that differ
 * only in it stack along it.
 */
export const tensorSignature: (x: unknown) => string = batchSignature;

/** Bytes of the tensors in an example (a ready-made weight function). */
export function tensorBytes(x: unknown): number {
  if (x instanceof Tensor) return x.byteLength;
  if (x !== null && typeof x === 'object') {
    let n = 0;
    for (const v of Object.values(x)) if (v instanceof Tensor) n += v.byteLength;
    return n;
  }
  return 0;
}

export interface FunctionHandlerOptions<E, M> {
  /** Model id reported in results and metrics. */
  modelId?: string;
  batching?: BatchingHints;
  /** Loads the "model" (anything the batch function needs), once per handler. */
  load?: () => M | Promise<M>;
  signature?: (x: E) => string;
  weight?: (x: E) => number;
  byteSize?: number;
}

/**
 * A handler around a plain TypeScript batch function. The function gets a whole batch
 * (so it can vectorise) and the loaded model, and must return one prediction per example.
 */
export function functionHandler<E, P, M = undefined>(
  fn: (examples: readonly E[], model: M) => readonly P[] | Promise<readonly P[]>,
  options: FunctionHandlerOptions<E, M> = {},
): ModelHandler<E, P> {
  let model: M | undefined;
  let loaded = false;
  let loading: Promise<void> | undefined;
  const modelId = options.modelId ?? (fn.name || 'function');
  const h: ModelHandler<E, P> = {
    modelId,
    ...(options.batching === undefined ? {} : { batching: options.batching }),
    load() {
      // Memoised so concurrent steps share one load.
      loading ??= (async () => {
        model = options.load ? await options.load() : (undefined as M);
        loaded = true;
      })();
      return loading;
    },
    isLoaded: () => loaded,
    async unload() {
      model = undefined;
      loaded = false;
      loading = undefined;
    },
    async runBatch(examples): Promise<BatchResult<P>> {
      if (!loaded) await h.load();
      const out = await fn(examples, model as M);
      if (!Array.isArray(out) || out.length !== examples.length) {
        throw new ModelpipeError(
          'MP_ERR_MODEL_OUTPUT',
          `${modelId}: batch function returned ${Array.isArray(out) ? out.length : typeof out} predictions for ${examples.length} examples`,
        );
      }
      return { predictions: [...out], modelId };
    },
    signature: options.signature ?? batchSignature,
    byteSize: () => options.byteSize ?? 0,
  };
  if (options.weight) h.weight = options.weight;
  return h;
}
