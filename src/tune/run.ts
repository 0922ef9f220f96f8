import { ModelpipeError } from '../errors/index.js';
import { modelNameOf } from '../models/source.js';
import type { Protocol } from '../perf/index.js';
import { type RunTrial, type SearchOptions, openLoopScore, search } from './search.js';
import { type TuneReport, tuneReport } from './report.js';
import { runTrial } from './trial.js';

export interface TuneOptions extends Omit<SearchOptions, 'deadline'> {
  modelPath: string;
  protocol: Protocol;
  concurrency: number;
  rate?: number;
  trialSeconds: number;
  /** The whole search's cap: no trial starts after it. */
  timeCapSeconds: number;
  /** Called after each trial (a progress line). */
  onTrial?: (n: number, label: string) => void;
  /** Replaces the real trial (tests of the CLI's output, benches that re-measure). */
  trial?: RunTrial;
}

/** Runs the search with real servers and returns the report (best first, the winner's config). */
export async function runTune(o: TuneOptions): Promise<TuneReport> {
  if (o.batchSizes.some((b) => !Number.isInteger(b) || b < 1)) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `batch sizes must be positive integers, got ${o.batchSizes.join(',')}`);
  }
  if (o.delaysUs.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `queue delays must be integers of at least 0 µs, got ${o.delaysUs.join(',')}`);
  }
  const model = modelNameOf(o.modelPath);
  let n = 0;
  const real: RunTrial = (s) =>
    runTrial(s, {
      modelPath: o.modelPath,
      model,
      protocol: o.protocol,
      concurrency: o.concurrency,
      ...(o.rate !== undefined ? { rate: o.rate } : {}),
      trialMs: o.trialSeconds * 1000,
      startMs: 60_000,
    });
  const trial: RunTrial = async (s) => {
    const m = await (o.trial ?? real)(s);
    o.onTrial?.(++n, `${s.instances}x${s.threads} batch ${s.maxBatch} proc ${s.processes}: ${m.rowsPerSec.toFixed(1)} rows/s`);
    return m;
  };
  const startedAt = new Date().toISOString();
  const result = await search(trial, {
    ...o,
    ...(o.rate !== undefined ? { score: openLoopScore(o.rate) } : {}),
    batchSizes: [...o.batchSizes].sort((a, b) => a - b),
    deadline: performance.now() + o.timeCapSeconds * 1000,
  });
  return tuneReport(result, {
    model,
    load: o.rate !== undefined ? `open loop at ${o.rate} req/s` : `concurrency ${o.concurrency}`,
    p99BudgetMs: o.p99BudgetMs,
    trialSeconds: o.trialSeconds,
    startedAt,
  });
}
