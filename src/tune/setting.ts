import type { ModelConfig } from '../config/index.js';

/** One point of tune's grid: the per-model settings and the server-wide process count. */
export interface TuneSetting {
  instances: number;
  /** onnxruntime intra-op threads per instance. */
  threads: number;
  /** Largest batch; 0: batching off. */
  maxBatch: number;
  /** How long a request waits for others to join its batch (batching on only). */
  delayUs: number;
  /** `serve --processes N`: server-wide, not part of the model config. */
  processes: number;
}

export function settingLabel(s: TuneSetting): string {
  const batching = s.maxBatch === 0 ? 'batch off' : `batch ${s.maxBatch}/${s.delayUs}us`;
  return `inst ${s.instances} x thr ${s.threads}, ${batching}, proc ${s.processes}`;
}

/**
 * The per-model part of a setting as a model config in Triton's names (src/config/):
 * what `serve --model-config`, a config beside the model and `--repository` read.
 * Batching off is Triton's max_batch_size 0, which the scheduler reads as "never batched".
 */
export function toModelConfig(s: TuneSetting): ModelConfig {
  const batching: ModelConfig =
    s.maxBatch === 0
      ? { max_batch_size: 0 }
      : {
          max_batch_size: s.maxBatch,
          dynamic_batching: { max_queue_delay_microseconds: s.delayUs, preferred_batch_size: [s.maxBatch] },
        };
  return {
    ...batching,
    instance_group: [{ count: s.instances, kind: 'KIND_CPU' }],
    // Fan-out splits one large batch across instances; tune measures the settings as they are.
    modelpipe: { intra_op_threads: s.threads },
  };
}
