import type { ModelMetadata, TensorSpec } from '../models/model.js';
import type { SchedulerOptions } from '../scheduling/options.js';
import { UNLIMITED_QUEUE } from './convert.js';
import type { ModelConfig } from './model-config.js';
import { TRITON_TYPES } from './triton-types.js';

/** What a served model runs with: its config as given, and what the model and its scheduler actually are. */
export interface RunningModel {
  metadata: ModelMetadata;
  scheduler: SchedulerOptions;
  batchable: boolean;
  instances: number;
  device: 'cpu' | 'cuda';
  /** The merged config it was added with (file and flags), when it had one. */
  config?: ModelConfig;
  /** Reported when metadata names none. */
  serverName: string;
}

/**
 * The config a model runs with, in Triton's names (the OIP model configuration
 * extension). Values come from what runs, so the answer is never a stale copy of a
 * file: with batching on, `max_batch_size` is the largest merged batch and `dims`
 * leave out the batch dimension, as Triton's do; otherwise `max_batch_size` is 0 and
 * `dims` are whole. Fields nothing runs from (version_policy, parameters, modelpipe's
 * description and app fields) are echoed from the config.
 */
export function renderModelConfig(m: RunningModel): ModelConfig & { name: string; max_batch_size: number } {
  const { metadata: md, scheduler: sched, config: c } = m;
  const batching = m.batchable ? sched.batching : undefined;
  const io = (s: TensorSpec) => ({ name: s.name, data_type: TRITON_TYPES[s.dtype], dims: batching ? s.shape.slice(1) : s.shape });
  const platform = typeof md.extra?.platform === 'string' ? md.extra.platform : (c?.platform ?? m.serverName);
  const modelpipe = {
    ...c?.modelpipe,
    fanout: sched.fanout,
    ...(sched.maxAbandonedRuns !== undefined ? { max_abandoned_runs: sched.maxAbandonedRuns } : {}),
  };
  return {
    name: md.name,
    platform,
    backend: c?.backend ?? (platform === 'onnxruntime_onnx' ? 'onnxruntime' : m.serverName),
    max_batch_size: batching ? batching.maxBatchSize : 0,
    input: md.inputs.map(io),
    output: md.outputs.map(io),
    instance_group: [{ name: md.name, count: m.instances, kind: m.device === 'cuda' ? 'KIND_GPU' : 'KIND_CPU' }],
    ...(batching
      ? {
          dynamic_batching: {
            preferred_batch_size: batching.preferredBatchSizes,
            max_queue_delay_microseconds: batching.maxQueueDelayUs,
            default_queue_policy: {
              timeout_action: 'REJECT',
              default_timeout_microseconds: sched.timeoutMs * 1000,
              allow_timeout_override: true,
              max_queue_size: sched.maxQueueSize >= UNLIMITED_QUEUE ? 0 : sched.maxQueueSize,
            },
          },
        }
      : {}),
    ...(c?.version_policy ? { version_policy: c.version_policy } : {}),
    ...(c?.parameters ? { parameters: c.parameters } : {}),
    modelpipe,
  };
}
