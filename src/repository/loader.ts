import { type ModelConfig, onnxOptionsOf } from '../config/index.js';
import type { Model } from '../models/model.js';
import { OnnxModel } from '../models/onnx/onnx-model.js';

/** Loads one version's model; the default starts an OnnxModel (worker threads). */
export type ModelLoader = (spec: { path: string; name: string; version: string; config: ModelConfig }) => Promise<Model>;

export const onnxLoader: ModelLoader = ({ path, name, version, config }) => {
  const o = onnxOptionsOf(config);
  return OnnxModel.load({ ...o, path, name, version, extra: { platform: 'onnxruntime_onnx', ...o.extra } });
};
