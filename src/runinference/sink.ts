import { batchStream } from '../scheduling/stream-batcher.js';

/**
 * A destination. `write` resolves only once the items are durably stored (fsync'd file,
 * committed transaction, acknowledged XADD): that is what lets the Redis source XACK
 * after the write and give at-least-once delivery. Sinks used with at-least-once sources
 * should be idempotent by key (INSERT OR IGNORE, dedup by message id).
 */
export interface Sink<T> {
  write(items: readonly T[]): Promise<void>;
  close(): Promise<void>;
}

export interface WriteOptions {
  /** Items per write call. Default 64. */
  batchSize?: number;
  /** Longest an item waits for its write batch to fill, in ms. Default 100. */
  maxWaitMs?: number;
}

/** Per-RunInference-step counters, kept in memory for the end-of-run summary table. */
export interface StepStats {
  step: string;
  modelIds: string[];
  numInferences: number;
  batches: number;
  failedBatches: number;
  failedExamples: number;
  batchLatencyMicrosTotal: number;
  batchSizeTotal: number;
  loadModelMillis: number;
  modelByteSize: number;
}

/** State shared by the operators of one pipeline (for reports). */
export interface PipelineContext {
  startedAt: number;
  steps: StepStats[];
  deadLetterCount: number;
}

export function newContext(): PipelineContext {
  return { startedAt: Date.now(), steps: [], deadLetterCount: 0 };
}

export interface RunReport {
  items: number;
  durationMs: number;
  steps: StepStats[];
  deadLetters: number;
}

export async function* writeThrough<T>(src: AsyncIterable<T>, sink: Sink<T>, options: WriteOptions = {}): AsyncGenerator<T> {
  for await (const batch of batchStream(src, { maxBatchSize: options.batchSize ?? 64, maxWaitMs: options.maxWaitMs ?? 100 })) {
    await sink.write(batch);
    yield* batch;
  }
}

/** A sink that calls a function (handy for dead letters and tests). */
export function callbackSink<T>(fn: (items: readonly T[]) => void | Promise<void>, onClose?: () => void | Promise<void>): Sink<T> {
  return {
    write: async (items) => {
      await fn(items);
    },
    close: async () => {
      await onClose?.();
    },
  };
}

/** Collects items in memory (tests, small runs). */
export class ArraySink<T> implements Sink<T> {
  readonly items: T[] = [];
  async write(items: readonly T[]): Promise<void> {
    this.items.push(...items);
  }
  async close(): Promise<void> {}
}
