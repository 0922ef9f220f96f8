import type { OnnxModelOptions } from '../models/onnx/onnx-model.js';
import { DEFAULT_BATCHING, DEFAULT_SCHEDULER, type SchedulerOptions } from '../scheduling/options.js';
import { isObj } from './context.js';
import type { InstanceGroup, ModelConfig } from './model-config.js';

/**
 * The one place a ModelConfig becomes what runs: scheduler options for a served model
 * (the pushed queue), batch options for a pipeline (the pulled stream), and the model's
 * load options. docs/model-config.md states each mapping.
 */

/** Triton's max_queue_size 0 means no limit; the scheduler compares against a number. */
export const UNLIMITED_QUEUE = Number.MAX_SAFE_INTEGER;

/**
 * `over` on top of `base`: objects merge field by field, instance groups group by group,
 * other lists (inputs, preferred sizes) are replaced whole.
 */
export function mergeConfig(base: ModelConfig, over: ModelConfig): ModelConfig {
  return deepMerge(base, over) as ModelConfig;
}

function deepMerge(a: unknown, b: unknown, key = ''): unknown {
  if (b === undefined) return a;
  if (key === 'instance_group' && Array.isArray(a) && Array.isArray(b)) {
    const n = Math.max(a.length, b.length);
    return Array.from({ length: n }, (_, i) => deepMerge(a[i], b[i]));
  }
  if (!isObj(a) || !isObj(b)) return b;
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = deepMerge(a[k], v, k);
  return out;
}

/**
 * Scheduler options for a served model. Batching is on when the config has
 * dynamic_batching, or says nothing about it and `batchingDefault` holds (serve turns it
 * on for models with a free batch dimension); max_batch_size 0 turns it off whatever else.
 */
export function toSchedulerOptions(c: ModelConfig, batchingDefault: boolean): SchedulerOptions {
  const db = c.dynamic_batching;
  const q = db?.default_queue_policy;
  const on = c.max_batch_size !== 0 && (db !== undefined || batchingDefault);
  const out: SchedulerOptions = {
    maxQueueSize:
      q?.max_queue_size === undefined ? DEFAULT_SCHEDULER.maxQueueSize : q.max_queue_size === 0 ? UNLIMITED_QUEUE : q.max_queue_size,
    // The scheduler counts milliseconds; a timeout under one still times out (rounded up).
    timeoutMs:
      q?.default_timeout_microseconds === undefined ? DEFAULT_SCHEDULER.timeoutMs : Math.ceil(q.default_timeout_microseconds / 1000),
    batching: on
      ? {
          maxBatchSize: c.max_batch_size ?? DEFAULT_BATCHING.maxBatchSize,
          maxQueueDelayUs: db?.max_queue_delay_microseconds ?? DEFAULT_BATCHING.maxQueueDelayUs,
          preferredBatchSizes: db?.preferred_batch_size ?? DEFAULT_BATCHING.preferredBatchSizes,
        }
      : undefined,
    fanout: c.modelpipe?.fanout ?? DEFAULT_SCHEDULER.fanout,
  };
  const abandoned = c.modelpipe?.max_abandoned_runs;
  if (abandoned !== undefined) out.maxAbandonedRuns = abandoned;
  return out;
}

/** A pipeline's pulled-stream batching (RunInference's BatchingHints); unset fields keep the stream's defaults. */
export interface StreamBatchOptions {
  minBatchSize?: number;
  maxBatchSize?: number;
  maxWaitMs?: number;
  maxBatchWeight?: number;
}

/**
 * Batch options for a pipeline: max_batch_size (0: one example a batch), the queue
 * delay as the longest an example waits for its batch, and modelpipe's min size and
 * weight. Nothing is filled in: the stream's own defaults depend on its source.
 */
export function toStreamBatchOptions(c: ModelConfig): StreamBatchOptions {
  const out: StreamBatchOptions = {};
  if (c.max_batch_size !== undefined) out.maxBatchSize = Math.max(1, c.max_batch_size);
  const delay = c.dynamic_batching?.max_queue_delay_microseconds;
  if (delay !== undefined) out.maxWaitMs = delay / 1000;
  if (c.modelpipe?.min_batch_size !== undefined) out.minBatchSize = c.modelpipe.min_batch_size;
  if (c.modelpipe?.max_batch_weight !== undefined) out.maxBatchWeight = c.modelpipe.max_batch_weight;
  return out;
}

/** Instances over every group (a group without a count is one instance, as in Triton); undefined when none is set. */
export function instancesOf(c: ModelConfig): number | undefined {
  const groups = c.instance_group;
  if (!groups || groups.length === 0) return undefined;
  return groups.reduce((n, g: InstanceGroup) => n + (g.count ?? 1), 0);
}

export function deviceOf(c: ModelConfig): 'cpu' | 'cuda' | undefined {
  const kinds = (c.instance_group ?? []).map((g) => g.kind);
  if (kinds.includes('KIND_GPU')) return 'cuda';
  return kinds.includes('KIND_CPU') ? 'cpu' : undefined;
}

/** What an ONNX model's load takes from its config (only the fields it sets). */
export function onnxOptionsOf(c: ModelConfig): Partial<OnnxModelOptions> {
  const mp = c.modelpipe ?? {};
  const out: Partial<OnnxModelOptions> = {};
  const instances = instancesOf(c);
  const device = deviceOf(c);
  if (mp.description !== undefined) out.description = mp.description;
  if (instances !== undefined) out.instances = instances;
  if (device !== undefined) out.device = device;
  if (c.input) out.inputs = c.input.map((t) => t.name);
  if (c.output) out.outputs = c.output.map((t) => t.name);
  if (mp.intra_op_threads !== undefined) out.intraOpThreads = mp.intra_op_threads;
  if (mp.inter_op_threads !== undefined) out.interOpThreads = mp.inter_op_threads;
  if (mp.value_inputs !== undefined) out.valueInputs = mp.value_inputs;
  const extra = { ...(mp.app ?? {}), ...(c.parameters ? { parameters: c.parameters } : {}) };
  if (Object.keys(extra).length > 0) out.extra = extra;
  return out;
}
