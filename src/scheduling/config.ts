import { readFileSync } from 'node:fs';
import { ModelpipeError } from '../errors/index.js';
import { DEFAULT_BATCHING, type SchedulerOptions } from './options.js';

/**
 * A per-model scheduling config file (JSON), Triton-style names:
 * {
 *   "dynamic_batching": { "max_batch_size": 16, "max_queue_delay_us": 2000, "preferred_batch_sizes": [8, 16] } | false,
 *   "max_queue_size": 1024,
 *   "timeout_ms": 30000,
 *   "instances": 2,
 *   "max_abandoned_runs": 4
 * }
 * Command-line flags override what the file says.
 */
export interface ModelConfigFile {
  scheduler: Partial<SchedulerOptions>;
  instances?: number;
}

const bad = (path: string, why: string): never => {
  throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${path}: ${why}`);
};

function posInt(v: unknown, path: string, field: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) return bad(path, `${field} must be a non-negative integer`);
  return v;
}

export function parseModelConfig(json: unknown, path = 'model config'): ModelConfigFile {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return bad(path, 'must be a JSON object');
  const o = json as Record<string, unknown>;
  const known = new Set(['dynamic_batching', 'max_queue_size', 'timeout_ms', 'instances', 'fanout', 'max_abandoned_runs']);
  for (const k of Object.keys(o)) if (!known.has(k)) bad(path, `unknown field ${JSON.stringify(k)} (known: ${[...known].join(', ')})`);
  const scheduler: Partial<SchedulerOptions> = {};
  const db = o.dynamic_batching;
  if (db === false) scheduler.batching = undefined;
  else if (db !== undefined) {
    if (db === null || typeof db !== 'object') return bad(path, 'dynamic_batching must be an object or false');
    const d = db as Record<string, unknown>;
    const pref = d.preferred_batch_sizes;
    if (pref !== undefined && (!Array.isArray(pref) || pref.some((x) => !Number.isInteger(x) || (x as number) <= 0))) {
      bad(path, 'dynamic_batching.preferred_batch_sizes must be a list of positive integers');
    }
    scheduler.batching = {
      maxBatchSize: posInt(d.max_batch_size, path, 'dynamic_batching.max_batch_size') ?? DEFAULT_BATCHING.maxBatchSize,
      maxQueueDelayUs: posInt(d.max_queue_delay_us, path, 'dynamic_batching.max_queue_delay_us') ?? DEFAULT_BATCHING.maxQueueDelayUs,
      preferredBatchSizes: (pref as number[] | undefined) ?? [],
    };
  }
  const q = posInt(o.max_queue_size, path, 'max_queue_size');
  if (q !== undefined) scheduler.maxQueueSize = q;
  const t = posInt(o.timeout_ms, path, 'timeout_ms');
  if (t !== undefined) scheduler.timeoutMs = t;
  const abandoned = posInt(o.max_abandoned_runs, path, 'max_abandoned_runs');
  if (abandoned !== undefined) scheduler.maxAbandonedRuns = abandoned;
  if (o.fanout !== undefined) {
    if (typeof o.fanout !== 'boolean') bad(path, 'fanout must be true or false');
    scheduler.fanout = o.fanout as boolean;
  }
  const instances = posInt(o.instances, path, 'instances');
  return instances === undefined ? { scheduler } : { scheduler, instances };
}

export function loadModelConfig(path: string): ModelConfigFile {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err: unknown) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${path}: ${(err as Error).message}`);
  }
  return parseModelConfig(json, path);
}
