import { DEFAULT_BATCHING, type SchedulerOptions } from '../scheduling/options.js';
import { int, list } from './args.js';

/**
 * Scheduler options: the per-model config file first, then flags on top. Batching
 * defaults to on for models with a free batch dimension (it never applies to others).
 */
export function schedulerFromFlags(
  v: Record<string, unknown>,
  batchableDefault: boolean,
  file: Partial<SchedulerOptions> = {},
): Partial<SchedulerOptions> {
  const fileSaysBatching = Object.hasOwn(file, 'batching');
  const on = v['no-batch'] === true ? false : v.batch === true ? true : fileSaysBatching ? file.batching !== undefined : batchableDefault;
  const base = file.batching ?? DEFAULT_BATCHING;
  const out: Partial<SchedulerOptions> = {
    ...file,
    batching: on
      ? {
          maxBatchSize: int(v['max-batch-size'], 'max-batch-size') ?? base.maxBatchSize,
          maxQueueDelayUs: int(v['max-queue-delay-us'], 'max-queue-delay-us') ?? base.maxQueueDelayUs,
          preferredBatchSizes: list(v['preferred-batch-sizes'])?.map(Number) ?? base.preferredBatchSizes,
        }
      : undefined,
  };
  if (v['no-fanout'] === true) out.fanout = false;
  const q = int(v['max-queue'], 'max-queue');
  if (q !== undefined) out.maxQueueSize = q;
  const t = int(v.timeout, 'timeout');
  if (t !== undefined) out.timeoutMs = t;
  return out;
}
