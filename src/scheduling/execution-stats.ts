/**
 * Per-execution records for the Open Inference Protocol statistics extension: the
 * scheduler adds each execution's phase durations here, from the same clock readings
 * that feed the /metrics histograms. The core's model statistics read it
 * (`core/model-stats.ts`). Durations are reported in nanoseconds.
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
