/** The multi-model repository: DIR/<model>/<version>/model.onnx plus config.json. */
export { ModelRepository, onnxLoader, type ModelLoader, type RepositoryOptions, type IndexEntry } from './repository.js';
export { parseModelConfig, selectVersions, type ModelConfig, type VersionPolicy } from './config.js';
export { checkModelName, listModels, readModel } from './scan.js';
