import { ModelpipeError } from '../errors/index.js';

/**
 * Groups a stream into batches, pull-based: it reads from its source only when its
 * consumer asks for the next batch, so a slow consumer slows the source down.
 *
 * Rules (chosen to match Beam's BatchElements where it makes sense for streams):
 * - examples with different signatures never share a batch (one open group per signature);
 * - a group is emitted as soon as it holds maxBatchSize examples or adding one more would
 *   pass maxBatchWeight (an example heavier than the limit is emitted alone);
 * - when the source has nothing ready right now, a group holding at least minBatchSize
 *   examples is emitted instead of waiting (keeps latency low on trickling streams);
 * - no example waits longer than maxWaitMs: then its group is emitted whatever its size;
 * - at the end of the input every open group is emitted;
 * - at most maxOpenGroups groups are open (the oldest is emitted when one more is needed),
 *   so memory is bounded by maxOpenGroups × maxBatchSize examples.
 */
export interface BatchOptions<T> {
  minBatchSize?: number;
  maxBatchSize?: number;
  maxWaitMs?: number;
  maxBatchWeight?: number;
  maxOpenGroups?: number;
  weight?: (x: T) => number;
  signature?: (x: T) => string;
}

interface Group<T> {
  items: T[];
  weight: number;
  since: number;
}

const TICK = Symbol('tick');
const TIMEOUT = Symbol('timeout');

export function validateBatchOptions(o: BatchOptions<unknown>): void {
  const check = (name: string, v: number | undefined, min: number): void => {
    if (v !== undefined && (!Number.isFinite(v) || v < min)) {
      throw new ModelpipeError('MP_ERR_PIPELINE_DEF', `batching: ${name} must be a number >= ${min}, got ${v}`);
    }
  };
  check('minBatchSize', o.minBatchSize, 1);
  check('maxBatchSize', o.maxBatchSize, 1);
  check('maxWaitMs', o.maxWaitMs, 0);
  check('maxBatchWeight', o.maxBatchWeight, 0);
  check('maxOpenGroups', o.maxOpenGroups, 1);
  if ((o.minBatchSize ?? 1) > (o.maxBatchSize ?? 32)) {
    throw new ModelpipeError('MP_ERR_PIPELINE_DEF', `batching: minBatchSize ${o.minBatchSize} > maxBatchSize ${o.maxBatchSize ?? 32}`);
  }
}

export async function* batchStream<T>(source: AsyncIterable<T>, options: BatchOptions<T> = {}): AsyncGenerator<T[]> {
  validateBatchOptions(options as BatchOptions<unknown>);
  const min = options.minBatchSize ?? 1;
  const max = options.maxBatchSize ?? 32;
  const maxWait = options.maxWaitMs ?? 50;
  const maxWeight = options.maxBatchWeight ?? Number.POSITIVE_INFINITY;
  const maxGroups = options.maxOpenGroups ?? 8;
  const weightOf = options.weight ?? (() => 1);
  const sigOf = options.signature ?? (() => '*');
  // Map keeps insertion order: the first group is the oldest.
  const groups = new Map<string, Group<T>>();
  const it = source[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<T>> | undefined;
  let settled = false;
  let finished = false;

  const take = (sig: string): T[] => {
    const g = groups.get(sig) as Group<T>;
    groups.delete(sig);
    return g.items;
  };
  const oldest = (): [string, Group<T>] | undefined => groups.entries().next().value;

  try {
    for (;;) {
      if (pending === undefined) {
        settled = false;
        pending = it.next();
        pending.then(
          () => {
            settled = true;
          },
          () => {
            settled = true;
          },
        );
      }
      let r: IteratorResult<T> | typeof TICK | typeof TIMEOUT;
      if (groups.size === 0) {
        r = await pending;
      } else {
        // Is the source ready right now? A value from an in-memory chain of generators
        // arrives within some microtask hops (cheap); only if it does not do we pay for a
        // macrotask turn (setImmediate) to let already-pending I/O callbacks deliver.
        for (let hop = 0; hop < 100 && !settled; hop++) await undefined;
        r = settled ? await pending : await Promise.race([pending, new Promise<typeof TICK>((res) => setImmediate(() => res(TICK)))]);
        if (r === TICK) {
          const ready = [...groups.entries()].find(([, g]) => g.items.length >= min);
          if (ready) {
            yield take(ready[0]);
            continue;
          }
          const [, g] = oldest() as [string, Group<T>];
          const left = Math.max(0, g.since + maxWait - Date.now());
          let timer: NodeJS.Timeout | undefined;
          r = await Promise.race([pending, new Promise<typeof TIMEOUT>((res) => (timer = setTimeout(() => res(TIMEOUT), left)))]);
          clearTimeout(timer);
          if (r === TIMEOUT) {
            yield take((oldest() as [string, Group<T>])[0]);
            continue;
          }
        }
      }
      pending = undefined;
      if (r.done) {
        finished = true;
        for (const sig of [...groups.keys()]) yield take(sig);
        return;
      }
      const x = r.value;
      const sig = sigOf(x);
      const w = weightOf(x);
      let g = groups.get(sig);
      if (g && g.items.length > 0 && g.weight + w > maxWeight) {
        yield take(sig);
        g = undefined;
      }
      if (!g) {
        if (groups.size >= maxGroups) yield take((oldest() as [string, Group<T>])[0]);
        g = { items: [], weight: 0, since: Date.now() };
        groups.set(sig, g);
      }
      g.items.push(x);
      g.weight += w;
      if (g.items.length >= max || g.weight >= maxWeight) yield take(sig);
    }
  } finally {
    // Consumer stopped early (or an error): let the source clean up.
    if (!finished) {
      // If a read is still outstanding (a blocked stream) do not wait for it to end.
      const ret = it.return?.();
      if (pending === undefined) await ret;
      else {
        pending.catch(() => {});
        ret?.catch(() => {});
      }
    }
  }
}
