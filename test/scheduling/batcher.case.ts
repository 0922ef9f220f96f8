import assert from 'node:assert/strict';
import { ModelpipeError } from '../../src/errors/index.js';
import { type NumericArray, Tensor } from '../../src/tensor/index.js';

/*
 * The batching contract's cases (src/scheduling/batcher.ts), run by every strategy:
 * batcher-queue.test.ts (ModelScheduler) and batcher-stream.test.ts (StreamBatcher,
 * pulled and pushed). A case that fits one strategy only says which and why.
 *
 * Every item is a tensor whose every element is its tag (index + 1), so the model
 * can tell which items a batch holds from the rows it is given, and each item's
 * output (a copy of its rows) shows it got back its own rows and no others.
 * Size is rows for the queue and items for the stream: cases that test sizes use
 * one-row items, where both are the same.
 */

export type Strategy = 'queue' | 'stream';

export interface CaseItem {
  shape: number[];
  /** Input name (default x). */
  name?: string;
  dtype?: 'float32' | 'int32';
  /** Wait this long after the previous item before this one arrives. */
  afterMs?: number;
  /** The model fails any batch that holds this item. */
  fails?: boolean;
  /** Stream: the item's weight (default 1). */
  weight?: number;
  /** Queue: the request's priority (default 0). */
  priority?: number;
  /** Queue: the caller cancels the request right after submitting it. */
  cancel?: boolean;
}

export interface BatchCase {
  name: string;
  only?: { strategy: Strategy; why: string };
  limits: {
    maxBatchSize: number;
    maxWaitMs: number;
    preferredBatchSizes?: number[];
    maxBatchWeight?: number;
    /** Stream: smallest group released while the source stalls (default maxBatchSize: wait, as the queue does). */
    minBatchSize?: number;
  };
  items: CaseItem[];
  /** The batches the model ran, in order, as item indices in arrival order. */
  batches: number[][];
  /** Items that fail, with the code; every other item must get its own rows back. */
  errors?: Record<number, string>;
}

const one = (n = 4): CaseItem => ({ shape: [1, n] });

export const CASES: BatchCase[] = [
  {
    name: 'a batch is cut at the largest size; the rest waits for the next',
    limits: { maxBatchSize: 2, maxWaitMs: 20 },
    items: [one(), one(), one(), one(), one()],
    batches: [[0, 1], [2, 3], [4]],
  },
  {
    name: 'a preferred size is released at once, without waiting out the delay',
    limits: { maxBatchSize: 8, maxWaitMs: 20, preferredBatchSizes: [2] },
    items: [one(), one(), one()],
    batches: [[0, 1], [2]],
  },
  {
    name: 'different shapes never share a batch',
    limits: { maxBatchSize: 4, maxWaitMs: 20 },
    items: [one(4), one(3), one(4), one(3)],
    batches: [
      [0, 2],
      [1, 3],
    ],
  },
  {
    name: 'different dtypes and different input names never share a batch',
    limits: { maxBatchSize: 8, maxWaitMs: 20 },
    items: [one(), { shape: [1, 4], dtype: 'int32' }, { shape: [1, 4], name: 'z' }, one(), { shape: [1, 4], dtype: 'int32' }],
    batches: [[0, 3], [1, 4], [2]],
  },
  {
    name: 'items that differ only in dimension 0 share a batch and each gets its own rows',
    limits: { maxBatchSize: 8, maxWaitMs: 20 },
    items: [{ shape: [1, 3] }, { shape: [2, 3] }, { shape: [3, 3] }],
    batches: [[0, 1, 2]],
  },
  {
    name: 'the longest wait releases a partial batch',
    limits: { maxBatchSize: 4, maxWaitMs: 20 },
    items: [one(), one(), { ...one(), afterMs: 400 }],
    batches: [[0, 1], [2]],
  },
  {
    name: 'a failing run fails its own batch only',
    limits: { maxBatchSize: 2, maxWaitMs: 20 },
    items: [one(), { ...one(), fails: true }, one(), one()],
    batches: [
      [0, 1],
      [2, 3],
    ],
    errors: { 0: 'MP_ERR_MODEL_RUNTIME', 1: 'MP_ERR_MODEL_RUNTIME' },
  },
  {
    name: 'the weight limit cuts a batch; an item heavier than the limit runs alone',
    only: { strategy: 'stream', why: 'the queue weighs nothing: rows are its one measure of size' },
    limits: { maxBatchSize: 8, maxWaitMs: 20, maxBatchWeight: 6 },
    items: [
      { ...one(), weight: 3 },
      { ...one(), weight: 3 },
      { ...one(), weight: 2 },
      { ...one(), weight: 10 },
      { ...one(), weight: 1 },
    ],
    batches: [[0, 1], [2], [3], [4]],
  },
  {
    name: 'a stalled source releases a group of minBatchSize without waiting',
    only: { strategy: 'stream', why: 'a pushed queue cannot tell a stalled caller from a slow one; it waits out its delay' },
    limits: { maxBatchSize: 8, maxWaitMs: 60_000, minBatchSize: 2 },
    items: [one(), one(), { ...one(), afterMs: 100 }],
    batches: [[0, 1], [2]],
  },
  {
    name: 'a higher priority runs first',
    only: { strategy: 'queue', why: 'a stream is read in order: its items have no priorities' },
    limits: { maxBatchSize: 1, maxWaitMs: 20 },
    items: [one(), one(), { ...one(), priority: 5 }],
    batches: [[0], [2], [1]],
  },
  {
    name: 'a cancelled request leaves its batch; the others run',
    only: {
      strategy: 'queue',
      why: 'a stream item has no caller to go away: stopping the consumer ends the source (stream-batcher.test.ts)',
    },
    limits: { maxBatchSize: 4, maxWaitMs: 20 },
    items: [one(), { ...one(), cancel: true }, one()],
    batches: [[0, 2]],
    errors: { 1: 'MP_ERR_CANCELLED' },
  },
];

/** The items' tensors: every element is the item's tag. */
export function itemTensor(item: CaseItem, index: number): Tensor {
  const n = item.shape.reduce((a, b) => a * b, 1);
  const data = item.dtype === 'int32' ? new Int32Array(n).fill(index + 1) : new Float32Array(n).fill(index + 1);
  return new Tensor(item.dtype ?? 'float32', item.shape, data);
}

export function itemInputs(item: CaseItem, index: number): Map<string, Tensor> {
  return new Map([[item.name ?? 'x', itemTensor(item, index)]]);
}

/**
 * The model of every case: records which items a batch holds (from the tags of its
 * rows), fails a batch holding a failing item, and returns a copy of its input.
 */
export function caseModel(c: BatchCase, batches: number[][]): (inputs: ReadonlyMap<string, Tensor>) => Tensor[] {
  return (inputs) => {
    const t = inputs.values().next().value as Tensor;
    const rows = t.shape[0] as number;
    const data = t.data as NumericArray;
    const rowSize = t.size / rows;
    const held: number[] = [];
    for (let r = 0; r < rows; r++) {
      const item = (data[r * rowSize] as number) - 1;
      if (held[held.length - 1] !== item) held.push(item);
    }
    batches.push(held);
    if (held.some((i) => c.items[i]?.fails)) throw new ModelpipeError('MP_ERR_MODEL_RUNTIME', 'the case model fails this batch');
    return [new Tensor(t.dtype, t.shape, data.slice())];
  };
}

/** What a strategy did with a case: the batches run, and per item its output or error code. */
export interface Outcome {
  batches: number[][];
  results: (Tensor | string)[];
}

export function checkOutcome(c: BatchCase, o: Outcome): void {
  assert.deepEqual(o.batches, c.batches, 'batches');
  c.items.forEach((item, i) => {
    const r = o.results[i];
    const code = c.errors?.[i];
    if (code !== undefined) {
      assert.equal(r, code, `item ${i}`);
      return;
    }
    assert.ok(r instanceof Tensor, `item ${i}: ${String(r)}`);
    assert.deepEqual(r.shape, item.shape, `item ${i}: shape`);
    assert.ok(
      [...(r.data as NumericArray)].every((v) => v === i + 1),
      `item ${i}: got rows of another item`,
    );
  });
}

/** The code of an error, for Outcome.results. */
export function codeOf(e: unknown): string {
  return e instanceof ModelpipeError ? e.code : String(e);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
