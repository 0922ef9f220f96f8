/**
 * What the Open Inference Protocol statistics extension reports for one model,
 * protocol-independent. Every duration is one the engine already measures for its
 * /metrics histograms (queue, compute phases, total): the request-level numbers are
 * read from those histograms' sums and counts, and the per-batch-size numbers are
 * added from the same readings by the scheduler. Durations are in nanoseconds.
 */

export interface DurationStat {
  count: number;
  ns: number;
}

export interface BatchStat {
  batchSize: number;
  computeInput: DurationStat;
  computeInfer: DurationStat;
  computeOutput: DurationStat;
}

export interface ModelStatistics {
  /** ms since the epoch of the last execution (0: none yet). */
  lastInference: number;
  /** Rows that ran successfully (a request of batch 8 counts 8; cache hits do not count). */
  inferenceCount: number;
  /** Model executions (a merged batch counts once). */
  executionCount: number;
  success: DurationStat;
  fail: DurationStat;
  queue: DurationStat;
  computeInput: DurationStat;
  computeInfer: DurationStat;
  computeOutput: DurationStat;
  /** By batch size, ascending. */
  batches: BatchStat[];
}

const NS_PER_MS = 1e6;

/** Executions of one batch size: counts and summed phase durations (ms while accumulating). */
class BatchAccumulator {
  count = 0;
  inputMs = 0;
  inferMs = 0;
  outputMs = 0;

  constructor(readonly batchSize: number) {}

  toStat(): BatchStat {
    const d = (ms: number): DurationStat => ({ count: this.count, ns: Math.round(ms * NS_PER_MS) });
    return { batchSize: this.batchSize, computeInput: d(this.inputMs), computeInfer: d(this.inferMs), computeOutput: d(this.outputMs) };
  }
}

/** The scheduler's per-execution record for the statistics extension. */
export class ExecutionStats {
  private readonly bySize = new Map<number, BatchAccumulator>();
  executions = 0;
  inferences = 0;
  lastInference = 0;

  /** One execution of `rows` rows; phase durations in ms. */
  record(rows: number, inputMs: number, inferMs: number, outputMs: number): void {
    let b = this.bySize.get(rows);
    if (b === undefined) {
      b = new BatchAccumulator(rows);
      this.bySize.set(rows, b);
    }
    b.count++;
    b.inputMs += inputMs;
    b.inferMs += inferMs;
    b.outputMs += outputMs;
    this.executions++;
  }

  batches(): BatchStat[] {
    return [...this.bySize.values()].sort((a, b) => a.batchSize - b.batchSize).map((b) => b.toStat());
  }
}

/** A histogram series' count and sum (seconds) as a duration statistic. */
export function fromSeconds(s: { readonly count: number; readonly sum: number }): DurationStat {
  return { count: s.count, ns: Math.round(s.sum * 1e9) };
}
