/** The multi-model repository: DIR/<model>/<version>/model.onnx plus config.json. */
export { ModelRepository, onnxLoader, type ModelLoader, type RepositoryOptions, type IndexEntry } from './repository.js';
export { readRepositoryConfig, selectVersions } from './config.js';
export type { ModelConfig, VersionPolicy } from '../config/index.js';
export { checkModelName, listModels, readModel } from './scan.js';
