import type { Engine } from '../core/engine.js';
import { ModelSlot } from '../core/model-slot.js';
import { ModelpipeError } from '../errors/index.js';
import type { Model } from '../models/model.js';
import type { Logger } from '../observe/logger.js';
import { type Tensor, batchSignature } from '../tensor/index.js';
import { type TensorExample, inferBatch } from './engine-batch.js';
import { tensorBytes } from './function-handler.js';
import type { BatchResult, BatchingHints, ModelHandler } from './handler.js';
import { localEngine, slotsFor, stderrLogger } from './local-engine.js';

export interface ServedModelHandlerOptions {
  /** The engine the model is served by (default: the process's local engine). */
  engine?: Engine;
  /** Engine name (default: the model's metadata name, suffixed when the engine has it already). */
  name?: string;
  batching?: BatchingHints;
  /** Output names to keep (default: the model's default outputs). */
  outputs?: readonly string[];
  /** Batches run at once (default 1; a model with several instances can take more). */
  concurrency?: number;
  logger?: Logger;
}

export interface ServedModelHandler extends ModelHandler<TensorExample, Record<string, Tensor>> {
  readonly engine: Engine;
  /** The engine name the model is served under, once loaded. */
  readonly entry: string | undefined;
  unload(): Promise<void>;
}

/**
 * Any server `Model` (a FunctionModel in TypeScript, a RemoteModel, an OnnxModel loaded
 * by the caller) as a RunInference handler on the serving core: the model becomes an
 * engine entry behind a model slot, and each batch is one `engine.infer` call with the
 * server's validation, scheduler and instances (see engine-batch.ts). `model` may be a
 * factory, so a handler unloaded (keyedModels' eviction) can load again.
 */
export function servedModelHandler(
  model: Model | (() => Model | Promise<Model>),
  options: ServedModelHandlerOptions = {},
): ServedModelHandler {
  const engine = options.engine ?? localEngine();
  const log = options.logger ?? stderrLogger('runinference.model');
  let slot: ModelSlot<string> | undefined;
  let loading: Promise<void> | undefined;
  let used = false;
  const make = async (): Promise<Model> => {
    if (typeof model === 'function') return model();
    if (used)
      throw new ModelpipeError('MP_ERR_BAD_CONFIG', `model ${model.metadata.name} was closed at unload; pass a factory to reload it`);
    used = true;
    return model;
  };
  const h: ServedModelHandler = {
    engine,
    get modelId() {
      return slot?.current?.tag ?? options.name ?? (typeof model === 'function' ? 'model' : model.metadata.name);
    },
    ...(options.batching === undefined ? {} : { batching: options.batching }),
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    get entry() {
      return slot?.name;
    },
    load() {
      loading ??= (async () => {
        const m = await make();
        const base = options.name ?? m.metadata.name;
        let name = base;
        for (let n = 2; engine.has(name); n++) name = `${base}~${n}`;
        const s = new ModelSlot<string>(slotsFor(engine, log), name, { batching: undefined, fanout: false, timeoutMs: 0 });
        await s.swap(m, `${m.metadata.name}@${m.metadata.version}`);
        slot = s;
      })();
      loading.catch(() => {
        loading = undefined;
      });
      return loading;
    },
    isLoaded: () => slot !== undefined,
    async unload() {
      const s = slot;
      slot = undefined;
      loading = undefined;
      await s?.clear();
    },
    async runBatch(examples): Promise<BatchResult<Record<string, Tensor>>> {
      if (!slot) await h.load();
      const cur = slot?.current;
      if (!cur) throw new ModelpipeError('MP_ERR_MODEL_NOT_READY', 'model is not loaded');
      return { predictions: await inferBatch(engine, cur.key, examples, options.outputs), modelId: cur.tag };
    },
    signature: batchSignature,
    weight: tensorBytes,
    byteSize: () => 0,
  };
  return h;
}
