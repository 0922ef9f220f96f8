import { type BatchLimits, hasRoom, isFull } from './batcher.js';

/*
 * The stream strategy's moving parts (stream-batcher.ts drives them): the open
 * groups, the one outstanding read of the source, and the wait for whichever comes
 * first, the next item or a due batch.
 */

export interface StreamLimits extends BatchLimits {
  readonly minBatchSize: number;
  readonly maxWaitMs: number;
  readonly maxOpenGroups: number;
}

interface Group<T> {
  items: T[];
  weight: number;
  since: number;
}

const TICK = Symbol('tick');
const TIMEOUT = Symbol('timeout');

/** The open groups, one per signature; Map keeps insertion order, so the first is the oldest. */
export class OpenGroups<T> {
  private readonly groups = new Map<string, Group<T>>();

  constructor(private readonly l: StreamLimits) {}

  get size(): number {
    return this.groups.size;
  }

  /** Adds an item to its group, appending to `due` the batches that must be emitted now, in order. */
  add(x: T, sig: string, w: number, due: T[][]): void {
    let g = this.groups.get(sig);
    if (g !== undefined && !hasRoom(this.l, g.items.length, g.weight, 1, w)) {
      due.push(this.take(sig));
      g = undefined;
    }
    if (g === undefined) {
      if (this.groups.size >= this.l.maxOpenGroups) due.push(this.takeOldest());
      g = { items: [], weight: 0, since: Date.now() };
      this.groups.set(sig, g);
    }
    g.items.push(x);
    g.weight += w;
    if (isFull(this.l, g.items.length, g.weight)) due.push(this.take(sig));
  }

  take(sig: string): T[] {
    const g = this.groups.get(sig) as Group<T>;
    this.groups.delete(sig);
    return g.items;
  }

  takeOldest(): T[] {
    return this.take(this.groups.keys().next().value as string);
  }

  /** A group worth emitting while the source stalls (at least minBatchSize items). */
  takeReady(): T[] | undefined {
    for (const [sig, g] of this.groups) if (g.items.length >= this.l.minBatchSize) return this.take(sig);
    return undefined;
  }

  /** Milliseconds until the oldest group's first item has waited maxWaitMs. */
  untilDue(): number {
    const g = this.groups.values().next().value as Group<T>;
    return Math.max(0, g.since + this.l.maxWaitMs - Date.now());
  }

  takeAll(): T[][] {
    return [...this.groups.keys()].map((sig) => this.take(sig));
  }
}

/** One read of the source at a time, and whether it has settled yet. */
export class SourceReader<T> {
  private readonly it: AsyncIterator<T>;
  private pending: Promise<IteratorResult<T>> | undefined;
  settled = false;
  finished = false;

  constructor(source: AsyncIterable<T>) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** The outstanding read, started if there is none. */
  read(): Promise<IteratorResult<T>> {
    if (this.pending === undefined) {
      this.settled = false;
      const p = this.it.next();
      const done = (): void => {
        if (this.pending === p) this.settled = true;
      };
      p.then(done, done);
      this.pending = p;
    }
    return this.pending;
  }

  /** Its result was taken: the next read is a new one. */
  consumed(): void {
    this.pending = undefined;
  }

  /** The consumer stopped early (or an error): let the source clean up. */
  async close(): Promise<void> {
    if (this.finished) return;
    const ret = this.it.return?.();
    // If a read is still outstanding (a blocked stream) do not wait for it to end.
    if (this.pending === undefined) await ret;
    else {
      this.pending.catch(() => {});
      ret?.catch(() => {});
    }
  }
}

/**
 * With groups open: the next item, or a batch that became due first (one that may
 * go because the source stalls, or the oldest one's wait is over).
 */
export async function nextOrDue<T>(reader: SourceReader<T>, groups: OpenGroups<T>): Promise<IteratorResult<T> | T[]> {
  const pending = reader.read();
  // Is the source ready right now? A value from an in-memory chain of generators
  // arrives within some microtask hops (cheap); only if it does not do we pay for a
  // macrotask turn (setImmediate) to let already-pending I/O callbacks deliver.
  for (let hop = 0; hop < 100 && !reader.settled; hop++) await undefined;
  if (reader.settled) return pending;
  const r = await Promise.race([pending, new Promise<typeof TICK>((res) => setImmediate(() => res(TICK)))]);
  if (r !== TICK) return r;
  const ready = groups.takeReady();
  if (ready !== undefined) return ready;
  let timer: NodeJS.Timeout | undefined;
  const t = await Promise.race([
    pending,
    new Promise<typeof TIMEOUT>((res) => (timer = setTimeout(() => res(TIMEOUT), groups.untilDue()))),
  ]);
  clearTimeout(timer);
  return t === TIMEOUT ? groups.takeOldest() : t;
}
