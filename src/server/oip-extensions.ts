import type { Engine } from '../core/engine.js';
import type { DurationStat, ModelStatistics } from '../core/model-stats.js';
import type { ModelMetadata, TensorSpec } from '../models/model.js';
import type { DType } from '../tensor/index.js';
import type { ModelDirectory } from '../core/model-directory.js';
import { SERVER_NAME, resolveModel } from './oip-models.js';

/**
 * The Open Inference Protocol's statistics and model configuration extensions, in
 * Triton's layout. One object serves both protocols: its field names are the proto
 * fields of grpc_service.proto (REST answers it as JSON, gRPC serializes it).
 */

interface DurationJson {
  count: number;
  ns: number;
}

export interface ModelStatJson {
  name: string;
  version: string;
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: Record<'success' | 'fail' | 'queue' | 'compute_input' | 'compute_infer' | 'compute_output' | 'cache_hit', DurationJson>;
  batch_stats: { batch_size: number; compute_input: DurationJson; compute_infer: DurationJson; compute_output: DurationJson }[];
}

const d = (x: DurationStat): DurationJson => ({ count: x.count, ns: x.ns });

function statJson(md: ModelMetadata, s: ModelStatistics): ModelStatJson {
  return {
    name: md.name,
    version: md.version,
    last_inference: s.lastInference,
    inference_count: s.inferenceCount,
    execution_count: s.executionCount,
    inference_stats: {
      success: d(s.success),
      fail: d(s.fail),
      queue: d(s.queue),
      compute_input: d(s.computeInput),
      compute_infer: d(s.computeInfer),
      compute_output: d(s.computeOutput),
      cache_hit: { count: 0, ns: 0 },
    },
    batch_stats: s.batches.map((b) => ({
      batch_size: b.batchSize,
      compute_input: d(b.computeInput),
      compute_infer: d(b.computeInfer),
      compute_output: d(b.computeOutput),
    })),
  };
}

/**
 * `{model_stats: [...]}` for a model and version, every served version of a model
 * (no version given), or every served model (no name given). Unknown: MP_ERR_UNKNOWN_MODEL.
 */
export function modelStatistics(engine: Engine, name: string | undefined, version: string | undefined, dir?: ModelDirectory) {
  let keys: string[];
  if (name === undefined) keys = engine.names();
  else if (version !== undefined) keys = [resolveModel(engine, name, version, dir)];
  else {
    const versions = dir?.versions(name) ?? [];
    keys = versions.length > 0 ? versions.map((v) => resolveModel(engine, name, v, dir)) : [resolveModel(engine, name, undefined, dir)];
  }
  return { model_stats: keys.map((k) => statJson(engine.metadata(k), engine.statistics(k))) };
}

const TRITON_TYPES: Record<DType, string> = {
  bool: 'TYPE_BOOL',
  uint8: 'TYPE_UINT8',
  uint16: 'TYPE_UINT16',
  uint32: 'TYPE_UINT32',
  uint64: 'TYPE_UINT64',
  int8: 'TYPE_INT8',
  int16: 'TYPE_INT16',
  int32: 'TYPE_INT32',
  int64: 'TYPE_INT64',
  float16: 'TYPE_FP16',
  float32: 'TYPE_FP32',
  float64: 'TYPE_FP64',
  string: 'TYPE_STRING',
  null: 'TYPE_INVALID',
};

/**
 * A model's configuration in Triton's `ModelConfig` field names. With batching on,
 * `max_batch_size` is the largest merged batch and `dims` leave out the batch
 * dimension, as Triton's do; otherwise `max_batch_size` is 0 and `dims` are whole.
 */
export function modelConfig(engine: Engine, key: string) {
  const md = engine.metadata(key);
  const model = engine.model(key);
  const sched = engine.schedulerOptions(key);
  const batching = model.batchable ? sched.batching : undefined;
  const io = (s: TensorSpec) => ({ name: s.name, data_type: TRITON_TYPES[s.dtype], dims: batching ? s.shape.slice(1) : s.shape });
  const platform = typeof md.extra?.platform === 'string' ? md.extra.platform : SERVER_NAME;
  return {
    name: md.name,
    platform,
    backend: platform === 'onnxruntime_onnx' ? 'onnxruntime' : SERVER_NAME,
    max_batch_size: batching ? batching.maxBatchSize : 0,
    input: md.inputs.map(io),
    output: md.outputs.map(io),
    instance_group: [{ name: md.name, count: model.instances, kind: model.device === 'cuda' ? 'KIND_GPU' : 'KIND_CPU' }],
    ...(batching
      ? {
          dynamic_batching: {
            preferred_batch_size: batching.preferredBatchSizes,
            max_queue_delay_microseconds: batching.maxQueueDelayUs,
            default_queue_policy: {
              timeout_action: 'REJECT',
              default_timeout_microseconds: sched.timeoutMs * 1000,
              allow_timeout_override: true,
              max_queue_size: sched.maxQueueSize,
            },
          },
        }
      : {}),
  };
}
