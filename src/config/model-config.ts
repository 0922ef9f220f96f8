/**
 * One model's configuration, spelled as Triton's model configuration (model_config.proto,
 * in its JSON form), so a Triton user's config carries over. Every config source maps
 * onto this type: a repository's config.json, `serve --model-config`, serve's flags (an
 * overlay, see scheduler-flags.ts) and a RunInference pipeline's `model_config`.
 * Fields modelpipe has and Triton lacks live under `modelpipe`. docs/model-config.md
 * gives every field's meaning for both batching strategies (pushed queue, pulled stream).
 */
export interface ModelConfig {
  name?: string;
  platform?: string;
  backend?: string;
  /**
   * Largest batch (rows along dimension 0). 0: the model is never batched (Triton's
   * "no batching"); absent: modelpipe's default (16 for a served model).
   */
  max_batch_size?: number;
  /** The model's inputs, in order: their names become the default inputs. */
  input?: TensorConfig[];
  output?: TensorConfig[];
  /** Present: requests are merged into batches (a pushed queue when served). */
  dynamic_batching?: DynamicBatching;
  instance_group?: InstanceGroup[];
  version_policy?: VersionPolicy;
  /** Triton's free-form string parameters, carried into the model's metadata. */
  parameters?: Record<string, { string_value: string }>;
  modelpipe?: ModelpipeFields;
}

export interface TensorConfig {
  name: string;
  /** Triton's TYPE_FP32, TYPE_INT64, … (informational: the model's own types are checked). */
  data_type?: string;
  dims?: number[];
}

export interface DynamicBatching {
  preferred_batch_size?: number[];
  /** How long a request waits for others to join its batch (a pulled stream: max wait). */
  max_queue_delay_microseconds?: number;
  default_queue_policy?: QueuePolicy;
}

export interface QueuePolicy {
  /** Only REJECT: a request past its timeout fails. */
  timeout_action?: 'REJECT';
  /** Default per-request timeout; 0: none. */
  default_timeout_microseconds?: number;
  /** Requests may always set their own timeout; false is refused. */
  allow_timeout_override?: boolean;
  /** Waiting requests beyond this are refused (503); 0: no limit. */
  max_queue_size?: number;
}

export interface InstanceGroup {
  name?: string;
  count?: number;
  kind?: 'KIND_AUTO' | 'KIND_CPU' | 'KIND_GPU';
}

/** Which versions a repository serves: the newest N, all, or the ones listed. */
export type VersionPolicy = { latest: { num_versions: number } } | { all: Record<string, never> } | { specific: { versions: string[] } };

/** What modelpipe has and Triton's schema lacks. */
export interface ModelpipeFields {
  description?: string;
  /** onnxruntime intra-op threads per instance (default: the CPUs shared out). */
  intra_op_threads?: number;
  inter_op_threads?: number;
  /** Split a large batch across idle instances (default true). */
  fanout?: boolean;
  /** Runs past their timeout whose instance slots may be given back (see SchedulerOptions). */
  max_abandoned_runs?: number;
  /** Pulled stream: smallest batch emitted as soon as the source stalls. */
  min_batch_size?: number;
  /** Pulled stream: largest total weight of one batch. */
  max_batch_weight?: number;
  /** GraphPipe-style value inputs pinning input shapes: {name: [dtype, shape]}. */
  value_inputs?: Record<string, [unknown, number[]]>;
  /** Free-form application fields (labels, preprocessing preset, …) carried into metadata. */
  app?: Record<string, unknown>;
}

/** How a parser reports a deprecated spelling or an ignored Triton field (never throws). */
export type ConfigWarn = (message: string) => void;
