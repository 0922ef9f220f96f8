/**
 * One batching contract, two strategies.
 *
 * What a batch is: items of one batch signature (tensor/signature.ts: input names,
 * dtypes, dimensions but the first), run as one stacked input (tensor/batch.ts
 * stackInputs) whose outputs go back to each item as its own rows (unstackOutputs).
 * How items join one: an item joins the open batch of its signature while that batch
 * has room (`hasRoom`). When it is released: as soon as it is full (`isFull`: the
 * largest size, a preferred size, or the weight limit), when its oldest item has
 * waited the longest wait, or when no more items can come. A run that fails fails
 * the items of its own batch, no other.
 *
 * The strategies differ in who drives:
 * - the queue (scheduler.ts, ModelScheduler): pushed. Callers submit requests and
 *   await their own results; it adds priorities, per-request timeouts and
 *   cancellation, and runs batches on the model's instances. Size counts rows.
 * - the stream (stream-batcher.ts, StreamBatcher/batchStream): pulled. The consumer
 *   asks for the next batch and only then is the source read (backpressure); it adds
 *   a smallest size released early when the source stalls, weights, and a bound on
 *   open groups. Size counts items. It also takes pushed items (`submit`) for callers
 *   that have no source to hand over.
 *
 * test/scheduling/batcher.case.ts is the table of cases both strategies must pass.
 */

/** The limits every batch is formed under. */
export interface BatchLimits {
  /** Largest batch: rows along dimension 0 (queue) or items (stream). */
  readonly maxBatchSize: number;
  /** Sizes worth releasing at once instead of waiting for more. */
  readonly preferredBatchSizes: readonly number[];
  /** Largest total weight; absent = unlimited (the queue weighs nothing). */
  readonly maxBatchWeight?: number | undefined;
}

/**
 * Whether an item of `addSize` (and `addWeight`) fits a batch holding `size` (and
 * `weight`). An empty batch takes any item: one heavier than the limit runs alone.
 */
export function hasRoom(l: BatchLimits, size: number, weight: number, addSize: number, addWeight: number): boolean {
  if (size === 0) return true;
  return size + addSize <= l.maxBatchSize && weight + addWeight <= (l.maxBatchWeight ?? Number.POSITIVE_INFINITY);
}

/** Whether a batch holding `size` (and `weight`) is released now rather than waiting for more. */
export function isFull(l: BatchLimits, size: number, weight: number): boolean {
  return size >= l.maxBatchSize || weight >= (l.maxBatchWeight ?? Number.POSITIVE_INFINITY) || l.preferredBatchSizes.includes(size);
}

/**
 * The side both strategies show their callers: an item in, its own result out (or
 * the error of its own batch), and a drain that lets everything submitted finish.
 */
export interface Batcher<I, R> {
  submit(item: I): Promise<R>;
  /** Stops taking items; resolves once every submitted item has settled. */
  drain(): Promise<void>;
}
