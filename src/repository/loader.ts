import type { Model } from '../models/model.js';
import { OnnxModel } from '../models/onnx/onnx-model.js';
import type { ModelConfig } from './config.js';

/** Loads one version's model; the default starts an OnnxModel (worker threads). */
export type ModelLoader = (spec: { path: string; name: string; version: string; config: ModelConfig }) => Promise<Model>;

export const onnxLoader: ModelLoader = ({ path, name, version, config: c }) =>
  OnnxModel.load({
    path,
    name,
    version,
    ...(c.description !== undefined ? { description: c.description } : {}),
    ...(c.instances !== undefined ? { instances: c.instances } : {}),
    ...(c.device !== undefined ? { device: c.device } : {}),
    ...(c.inputs !== undefined ? { inputs: c.inputs } : {}),
    ...(c.outputs !== undefined ? { outputs: c.outputs } : {}),
    ...(c.value_inputs !== undefined ? { valueInputs: c.value_inputs } : {}),
    extra: { platform: 'onnxruntime_onnx', ...(c.app ?? {}) },
  });
