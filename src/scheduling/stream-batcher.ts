import { ModelpipeError, toModelpipeError } from '../errors/index.js';
import type { Batcher } from './batcher.js';
import { OpenGroups, SourceReader, type StreamLimits, nextOrDue } from './open-groups.js';

/**
 * The stream strategy of the batching contract (see batcher.ts): groups a stream into
 * batches, pull-based. It reads from its source only when its consumer asks for the
 * next batch, so a slow consumer slows the source down.
 *
 * Rules (chosen to match Beam's BatchElements where it makes sense for streams):
 * - examples with different signatures never share a batch (one open group per signature);
 * - a group is emitted as soon as it holds maxBatchSize examples, a preferred size, or
 *   adding one more would pass maxBatchWeight (an example heavier than the limit is
 *   emitted alone);
 * - when the source has nothing ready right now, a group holding at least minBatchSize
 *   examples is emitted instead of waiting (keeps latency low on trickling streams);
 * - no example waits longer than maxWaitMs: then its group is emitted whatever its size;
 * - at the end of the input every open group is emitted;
 * - at most maxOpenGroups groups are open (the oldest is emitted when one more is needed),
 *   so memory is bounded by maxOpenGroups × maxBatchSize examples.
 * Without `signature` every item is in one group: the stream batches anything (sink
 * writes, records); RunInference passes the handler's signature (tensor/signature.ts).
 */
export interface BatchOptions<T> {
  minBatchSize?: number;
  maxBatchSize?: number;
  /** Group sizes emitted at once (as the queue's preferred batch sizes). Default none. */
  preferredBatchSizes?: readonly number[];
  maxWaitMs?: number;
  maxBatchWeight?: number;
  maxOpenGroups?: number;
  weight?: (x: T) => number;
  signature?: (x: T) => string;
}

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
  for (const p of o.preferredBatchSizes ?? []) check('preferredBatchSizes[]', p, 1);
  if ((o.minBatchSize ?? 1) > (o.maxBatchSize ?? 32)) {
    throw new ModelpipeError('MP_ERR_PIPELINE_DEF', `batching: minBatchSize ${o.minBatchSize} > maxBatchSize ${o.maxBatchSize ?? 32}`);
  }
}

function streamLimits(o: BatchOptions<never>): StreamLimits {
  return {
    minBatchSize: o.minBatchSize ?? 1,
    maxBatchSize: o.maxBatchSize ?? 32,
    preferredBatchSizes: o.preferredBatchSizes ?? [],
    maxWaitMs: o.maxWaitMs ?? 50,
    maxBatchWeight: o.maxBatchWeight ?? Number.POSITIVE_INFINITY,
    maxOpenGroups: o.maxOpenGroups ?? 8,
  };
}

export async function* batchStream<T>(source: AsyncIterable<T>, options: BatchOptions<T> = {}): AsyncGenerator<T[]> {
  validateBatchOptions(options as BatchOptions<unknown>);
  const groups = new OpenGroups<T>(streamLimits(options as BatchOptions<never>));
  const weightOf = options.weight ?? (() => 1);
  const sigOf = options.signature ?? (() => '*');
  const reader = new SourceReader(source);
  try {
    for (;;) {
      const r = groups.size === 0 ? await reader.read() : await nextOrDue(reader, groups);
      if (Array.isArray(r)) {
        yield r;
        continue;
      }
      reader.consumed();
      if (r.done) {
        reader.finished = true;
        for (const b of groups.takeAll()) yield b;
        return;
      }
      const due: T[][] = [];
      groups.add(r.value, sigOf(r.value), weightOf(r.value), due);
      for (const b of due) yield b;
    }
  } finally {
    await reader.close();
  }
}

interface Entry<T, R> {
  item: T;
  /** Taken at submit, so an item whose signature or weight throws fails alone, there. */
  sig: string;
  weight: number;
  resolve: (r: R) => void;
  reject: (e: ModelpipeError) => void;
}

/**
 * The stream strategy as an object: `batches(source)` is the pulled side (what
 * RunInference's Flow uses); `submit` is the pushed side of the contract, feeding
 * an inbox that the same batching reads, one batch run at a time through `run`.
 */
export class StreamBatcher<T, R = never> implements Batcher<T, R> {
  private readonly queue: Entry<T, R>[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly options: BatchOptions<T> = {},
    private readonly run?: (items: readonly T[]) => Promise<readonly R[]>,
  ) {
    validateBatchOptions(options as BatchOptions<unknown>);
  }

  batches(source: AsyncIterable<T>): AsyncGenerator<T[]> {
    return batchStream(source, this.options);
  }

  submit(item: T): Promise<R> {
    if (this.closed) return Promise.reject(new ModelpipeError('MP_ERR_SHUTTING_DOWN', 'batcher is draining'));
    if (this.run === undefined)
      return Promise.reject(new ModelpipeError('MP_ERR_INTERNAL', 'submit needs a StreamBatcher made with a run function'));
    let sig: string;
    let weight: number;
    try {
      sig = this.options.signature?.(item) ?? '*';
      weight = this.options.weight?.(item) ?? 1;
    } catch (err: unknown) {
      return Promise.reject(toModelpipeError(err, 'MP_ERR_BAD_REQUEST'));
    }
    this.loop ??= this.serve(this.run);
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, sig, weight, resolve, reject });
      this.notify();
    });
  }

  async drain(): Promise<void> {
    this.closed = true;
    this.notify();
    await this.loop;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private async *inbox(): AsyncGenerator<Entry<T, R>> {
    for (;;) {
      const e = this.queue.shift();
      if (e !== undefined) yield e;
      else if (this.closed) return;
      else await new Promise<void>((r) => (this.wake = r));
    }
  }

  private async serve(run: (items: readonly T[]) => Promise<readonly R[]>): Promise<void> {
    const { signature: _s, weight: _w, ...limits } = this.options;
    const byItem: BatchOptions<Entry<T, R>> = { ...limits, signature: (e) => e.sig, weight: (e) => e.weight };
    for await (const batch of batchStream(this.inbox(), byItem)) {
      try {
        const out = await run(batch.map((e) => e.item));
        if (out.length !== batch.length) {
          throw new ModelpipeError('MP_ERR_MODEL_OUTPUT', `batch of ${batch.length} items returned ${out.length} results`);
        }
        for (let i = 0; i < batch.length; i++) (batch[i] as Entry<T, R>).resolve(out[i] as R);
      } catch (err: unknown) {
        const e = toModelpipeError(err, 'MP_ERR_MODEL_RUNTIME');
        for (const x of batch) x.reject(e);
      }
    }
  }
}
