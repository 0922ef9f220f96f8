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
export { CONFIG_FILE_NAMES, configBeside, configIn, loadModelConfig, parseConfigFile } from './load.js';
export { parsePbtxt } from './pbtxt.js';
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
