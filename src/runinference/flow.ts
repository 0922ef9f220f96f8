import { type BatchOptions, StreamBatcher } from '../scheduling/stream-batcher.js';
import type { DeadLetter, ModelHandler, PredictionResult } from './handler.js';
import { type RunInferenceOptions, runInferenceKeyedStream, runInferenceStream } from './run-inference.js';
import type { KeyedModelHandler } from './keyed-handler.js';
import { type RunReport, type Sink, type WriteOptions, type PipelineContext, newContext, writeThrough } from './sink.js';
import { formatSummary } from './metrics.js';
import { orderedMap } from './ordered.js';

/**
 * A pull-based dataflow: every operator is an async generator that reads its input only
 * when its own consumer asks for the next item. That gives end-to-end backpressure for
 * free: a slow model (or sink) slows the source, and the number of items in flight is the
 * sum of the operators' small, fixed buffers, whatever the input size.
 */
export class Flow<T> implements AsyncIterable<T> {
  readonly ctx: PipelineContext;
  readonly #src: AsyncIterable<T>;

  constructor(src: AsyncIterable<T>, ctx: PipelineContext = newContext()) {
    this.#src = src;
    this.ctx = ctx;
  }

  static from<T>(src: Iterable<T> | AsyncIterable<T>, ctx?: PipelineContext): Flow<T> {
    if (Symbol.asyncIterator in src) return new Flow(src as AsyncIterable<T>, ctx);
    return new Flow(
      (async function* () {
        yield* src as Iterable<T>;
      })(),
      ctx,
    );
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.#src[Symbol.asyncIterator]();
  }

  #next<U>(gen: AsyncIterable<U>): Flow<U> {
    return new Flow(gen, this.ctx);
  }

  /** Maps items; with concurrency > 1 up to that many calls run at once, output order kept. */
  map<U>(fn: (x: T) => U | Promise<U>, options: { concurrency?: number } = {}): Flow<U> {
    const src = this.#src;
    const n = Math.max(1, options.concurrency ?? 1);
    if (n === 1) {
      return this.#next(
        (async function* () {
          for await (const x of src) yield await fn(x);
        })(),
      );
    }
    return this.#next(orderedMap(src, n, fn));
  }

  filter(pred: (x: T) => boolean | Promise<boolean>): Flow<T> {
    const src = this.#src;
    return this.#next(
      (async function* () {
        for await (const x of src) if (await pred(x)) yield x;
      })(),
    );
  }

  flatMap<U>(fn: (x: T) => Iterable<U> | AsyncIterable<U> | Promise<Iterable<U>>): Flow<U> {
    const src = this.#src;
    return this.#next(
      (async function* () {
        for await (const x of src) yield* await fn(x);
      })(),
    );
  }

  /** Side effect per item (logging, progress), item passed on unchanged. */
  tap(fn: (x: T) => void | Promise<void>): Flow<T> {
    return this.map(async (x) => {
      await fn(x);
      return x;
    });
  }

  /** Groups items into batches: the stream strategy of the batching contract (scheduling/batcher.ts). */
  batch(options: BatchOptions<T> = {}): Flow<T[]> {
    return this.#next(new StreamBatcher(options).batches(this.#src));
  }

  keyBy<K>(fn: (x: T) => K): Flow<[K, T]> {
    return this.map((x) => [fn(x), x] as [K, T]);
  }

  /**
   * Sends every item to `n` branches (a tee). Each branch buffers at most `highWaterMark`
   * items; the source is read only while every branch has room, so the slowest branch sets
   * the pace. Consume all branches concurrently (e.g. Promise.all or Flow.zip).
   */
  branch(n: number, highWaterMark = 16): Flow<T>[] {
    return tee(this.#src, n, highWaterMark).map((s) => this.#next(s));
  }

  /** Pairs the i-th items of several flows (e.g. the outputs of ordered branches). */
  static zip<A extends unknown[]>(...flows: { [I in keyof A]: Flow<A[I]> }): Flow<A> {
    const ctx = (flows[0] as Flow<unknown>).ctx;
    return new Flow(
      (async function* () {
        const its = flows.map((f) => (f as Flow<unknown>)[Symbol.asyncIterator]());
        try {
          for (;;) {
            const rs = await Promise.all(its.map((it) => it.next()));
            if (rs.some((r) => r.done)) return;
            yield rs.map((r) => r.value) as A;
          }
        } finally {
          await Promise.all(its.map((it) => it.return?.()));
        }
      })(),
      ctx,
    );
  }

  /** RunInference over unkeyed examples: yields PredictionResult per example. */
  runInference<P>(handler: ModelHandler<T, P>, options: RunInferenceOptions = {}): Flow<PredictionResult<T, P>> {
    return this.#next(runInferenceStream(this.#src, handler, options, this.ctx));
  }

  /**
   * RunInference over [key, example] pairs: keys are kept, and a KeyedModelHandler picks
   * the model from the key.
   */
  runInferenceKeyed<K, E, P>(
    this: Flow<[K, E]>,
    handler: ModelHandler<E, P> | KeyedModelHandler<K, E, P>,
    options: RunInferenceOptions = {},
  ): Flow<[K, PredictionResult<E, P>]> {
    return new Flow(runInferenceKeyedStream(this.#src, handler, options, this.ctx), this.ctx);
  }

  /** Writes items to a sink and passes each on only after its write completed (durably). */
  through(sink: Sink<T>, options: WriteOptions = {}): Flow<T> {
    return this.#next(writeThrough(this.#src, sink, options));
  }

  /** Writes everything to a sink, closes it, and reports. */
  async to(sink: Sink<T>, options: WriteOptions & { summary?: boolean | NodeJS.WritableStream } = {}): Promise<RunReport> {
    let items = 0;
    try {
      for await (const _ of writeThrough(this.#src, sink, options)) items++;
    } finally {
      await sink.close();
    }
    return this.#report(items, options.summary);
  }

  /** Runs the flow to its end, discarding items. */
  async run(options: { summary?: boolean | NodeJS.WritableStream } = {}): Promise<RunReport> {
    let items = 0;
    for await (const _ of this.#src) items++;
    return this.#report(items, options.summary);
  }

  async collect(): Promise<T[]> {
    const out: T[] = [];
    for await (const x of this.#src) out.push(x);
    return out;
  }

  #report(items: number, summary: boolean | NodeJS.WritableStream | undefined): RunReport {
    const report: RunReport = {
      items,
      durationMs: Date.now() - this.ctx.startedAt,
      steps: this.ctx.steps.map((s) => ({ ...s })),
      deadLetters: this.ctx.deadLetterCount,
    };
    if (summary) (summary === true ? process.stderr : summary).write(formatSummary(report));
    return report;
  }
}

function tee<T>(src: AsyncIterable<T>, n: number, hwm: number): AsyncIterable<T>[] {
  const it = src[Symbol.asyncIterator]();
  const bufs: T[][] = Array.from({ length: n }, () => []);
  const active = new Array<boolean>(n).fill(true);
  let done = false;
  let error: unknown;
  let pulling: Promise<void> | undefined;
  let waiters: (() => void)[] = [];
  const wake = (): void => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const pull = (): Promise<void> => {
    pulling ??= (async () => {
      // Wait until every live branch has room: bounded memory, slowest branch sets the pace.
      while (bufs.some((b, i) => active[i] && b.length >= hwm)) await new Promise<void>((r) => waiters.push(r));
      try {
        const r = await it.next();
        if (r.done) done = true;
        else for (let i = 0; i < n; i++) if (active[i]) (bufs[i] as T[]).push(r.value);
      } catch (e) {
        error = e;
        done = true;
      }
    })().finally(() => {
      pulling = undefined;
      wake();
    });
    return pulling;
  };
  return bufs.map((buf, i) => ({
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          if (buf.length > 0) {
            yield buf.shift() as T;
            wake();
            continue;
          }
          if (done) {
            if (error !== undefined) throw error;
            return;
          }
          await pull();
        }
      } finally {
        active[i] = false;
        wake();
        if (active.every((a) => !a) && !done) await it.return?.();
      }
    },
  }));
}

export type { DeadLetter };
