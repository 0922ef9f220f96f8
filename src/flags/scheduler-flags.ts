import { type ModelConfig, mergeConfig, toSchedulerOptions } from '../config/index.js';
import type { SchedulerOptions } from '../scheduling/options.js';
import { int, list } from './args.js';

/**
 * The scheduler flags as a ModelConfig overlay (Triton names): only what a flag sets.
 * --no-batch is Triton's "no batching" (max_batch_size 0); --max-queue 0 is no limit.
 */
export function configFromFlags(v: Record<string, unknown>): ModelConfig {
  const c: ModelConfig = {};
  const maxBatch = int(v['max-batch-size'], 'max-batch-size');
  if (v['no-batch'] === true) c.max_batch_size = 0;
  else if (maxBatch !== undefined) c.max_batch_size = maxBatch;
  const delay = int(v['max-queue-delay-us'], 'max-queue-delay-us');
  const preferred = list(v['preferred-batch-sizes'])?.map(Number);
  const queue = int(v['max-queue'], 'max-queue');
  const timeout = int(v.timeout, 'timeout');
  const db: NonNullable<ModelConfig['dynamic_batching']> = {};
  if (delay !== undefined) db.max_queue_delay_microseconds = delay;
  if (preferred !== undefined) db.preferred_batch_size = preferred;
  if (queue !== undefined || timeout !== undefined) {
    db.default_queue_policy = {
      ...(queue !== undefined ? { max_queue_size: queue } : {}),
      ...(timeout !== undefined ? { default_timeout_microseconds: timeout * 1000 } : {}),
    };
  }
  if (v.batch === true || Object.keys(db).length > 0) c.dynamic_batching = db;
  if (v['no-fanout'] === true) c.modelpipe = { fanout: false };
  return c;
}

/**
 * A model's config (a file's, or none) with the flags on top, field by field. --batch
 * turns batching on over a file's max_batch_size 0 (the other flags only tune it).
 */
export function effectiveConfig(v: Record<string, unknown>, file: ModelConfig = {}): ModelConfig {
  const merged = mergeConfig(file, configFromFlags(v));
  if (v.batch === true && merged.max_batch_size === 0) {
    const { max_batch_size: _off, ...on } = merged;
    return on;
  }
  return merged;
}

/**
 * Scheduler options from the per-model config (a file: old spellings accepted when parsed)
 * with the flags on top, converted once (config/convert.ts). Batching defaults to on for
 * models with a free batch dimension (it never applies to others).
 */
export function schedulerFromFlags(v: Record<string, unknown>, batchableDefault: boolean, file: ModelConfig = {}): SchedulerOptions {
  return toSchedulerOptions(effectiveConfig(v, file), batchableDefault);
}
