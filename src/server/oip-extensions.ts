import type { Engine } from '../core/engine.js';
import type { DurationStat, ModelStatistics } from '../core/model-stats.js';
import type { ModelMetadata } from '../models/model.js';
import { type ModelConfig, renderModelConfig } from '../config/index.js';
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

/**
 * A model's configuration in Triton's `ModelConfig` field names: what it runs with
 * (config/render.ts), the same object over REST and gRPC.
 */
export function modelConfig(engine: Engine, key: string) {
  const model = engine.model(key);
  return renderModelConfig({
    metadata: engine.metadata(key),
    scheduler: engine.schedulerOptions(key),
    batchable: model.batchable,
    instances: model.instances,
    device: model.device === 'cuda' ? 'cuda' : 'cpu',
    serverName: SERVER_NAME,
    ...optionalConfig(engine.modelConfig(key)),
  });
}

const optionalConfig = (config: ModelConfig | undefined) => (config ? { config } : {});
