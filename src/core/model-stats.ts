/**
 * What the Open Inference Protocol statistics extension reports for one model,
 * protocol-independent. Every duration is one the engine already measures for its
 * /metrics histograms (queue, compute phases, total): the request-level numbers are
 * read from those histograms' sums and counts, and the per-batch-size numbers are
 * added from the same readings by the scheduler. Durations are in nanoseconds.
 */

import type { BatchStat, DurationStat } from '../scheduling/execution-stats.js';

export type { BatchStat, DurationStat };

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

/** A histogram series' count and sum (seconds) as a duration statistic. */
export function fromSeconds(s: { readonly count: number; readonly sum: number }): DurationStat {
  return { count: s.count, ns: Math.round(s.sum * 1e9) };
}
