import { ModelpipeError } from '../errors/index.js';
import { type BatchingHints, type ModelHandler, type ProcessedHandler, planOf } from './handler.js';

/**
 * Beam's KeyedModelHandler with KeyModelMapping: [key, example] pairs are routed to the
 * model that the key maps to, and at most `maxModelsResident` models are loaded at once.
 * When another model is needed, the least recently used idle model is unloaded (a model
 * that is running a batch is never unloaded under it).
 */
export interface KeyModelMapping<K, E, P> {
  keys: readonly K[];
  handler: ModelHandler<E, P>;
}

export interface KeyedModelHandler<K, E, P> {
  readonly kind: 'keyed-models';
  readonly batching?: BatchingHints;
  /** Index of the mapping for a key; throws MP_ERR_UNKNOWN_MODEL for unmapped keys. */
  indexFor(key: K): number;
  planAt(index: number): ProcessedHandler<unknown, unknown>;
  /** Marks a model in use and evicts idle LRU models beyond the residency limit. */
  acquire(index: number): Promise<void>;
  release(index: number): void;
  /** Indices of loaded models, least recently used first (for tests and logs). */
  resident(): number[];
  /** Unloads done so far. */
  readonly evictions: number;
  /** Phantom field carrying the example/prediction types. */
  readonly _types?: [K, E, P];
}

export function isKeyedModelHandler(h: unknown): h is KeyedModelHandler<unknown, unknown, unknown> {
  return typeof h === 'object' && h !== null && (h as { kind?: string }).kind === 'keyed-models';
}

export function keyedModels<K, E, P>(
  mappings: readonly KeyModelMapping<K, E, P>[],
  options: { maxModelsResident?: number; batching?: BatchingHints } = {},
): KeyedModelHandler<K, E, P> {
  const max = options.maxModelsResident ?? mappings.length;
  if (!Number.isInteger(max) || max < 1) {
    throw new ModelpipeError('MP_ERR_PIPELINE_DEF', `keyedModels: maxModelsResident must be an integer >= 1, got ${max}`);
  }
  const byKey = new Map<K, number>();
  mappings.forEach((m, i) => {
    for (const k of m.keys) {
      if (byKey.has(k)) throw new ModelpipeError('MP_ERR_PIPELINE_DEF', `keyedModels: key ${String(k)} is mapped twice`);
      byKey.set(k, i);
    }
  });
  const plans = mappings.map((m) => planOf(m.handler as ModelHandler<unknown, unknown>));
  if (max < plans.length) {
    const i = plans.findIndex((p) => p.inner.unload === undefined);
    if (i >= 0) throw new ModelpipeError('MP_ERR_PIPELINE_DEF', `keyedModels: handler ${i} cannot unload, so it cannot be evicted`);
  }
  const inUse = new Array<number>(plans.length).fill(0);
  let lru: number[] = []; // least recently used first
  let evictions = 0;
  const waiters: (() => void)[] = [];

  const h: KeyedModelHandler<K, E, P> = {
    kind: 'keyed-models',
    ...(options.batching === undefined ? {} : { batching: options.batching }),
    indexFor(key) {
      const i = byKey.get(key);
      if (i === undefined) throw new ModelpipeError('MP_ERR_UNKNOWN_MODEL', `no model is mapped to key ${String(key)}`);
      return i;
    },
    planAt: (i) => plans[i] as ProcessedHandler<unknown, unknown>,
    async acquire(i) {
      lru = [...lru.filter((j) => j !== i), i];
      inUse[i] = (inUse[i] ?? 0) + 1;
      // Evict idle models until the residency limit holds; if all are busy, wait for one.
      for (;;) {
        const loaded = lru.filter((j) => j === i || (plans[j] as ProcessedHandler<unknown, unknown>).inner.isLoaded());
        if (loaded.length <= max) return;
        const victim = loaded.find((j) => j !== i && inUse[j] === 0);
        if (victim === undefined) {
          await new Promise<void>((r) => waiters.push(r));
          continue;
        }
        lru = lru.filter((j) => j !== victim);
        evictions++;
        await (plans[victim] as ProcessedHandler<unknown, unknown>).inner.unload?.();
      }
    },
    release(i) {
      inUse[i] = Math.max(0, (inUse[i] ?? 0) - 1);
      for (const w of waiters.splice(0)) w();
    },
    resident: () => lru.filter((j) => (plans[j] as ProcessedHandler<unknown, unknown>).inner.isLoaded()),
    get evictions() {
      return evictions;
    },
  };
  return h;
}
