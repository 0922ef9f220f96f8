export type {
  ConfigWarn,
  DynamicBatching,
  InstanceGroup,
  ModelConfig,
  ModelpipeFields,
  QueuePolicy,
  TensorConfig,
  VersionPolicy,
} from './model-config.js';
export { type ParseOptions, parseModelConfig, parseModelConfigText } from './parse.js';
export { configBeside, loadModelConfig } from './load.js';
export {
  type StreamBatchOptions,
  UNLIMITED_QUEUE,
  deviceOf,
  instancesOf,
  mergeConfig,
  onnxOptionsOf,
  toSchedulerOptions,
  toStreamBatchOptions,
} from './convert.js';
export { type RunningModel, renderModelConfig } from './render.js';
export { TRITON_TYPES } from './triton-types.js';
