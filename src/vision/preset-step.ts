import { ModelpipeError } from '../errors/index.js';
import type { Tensor } from '../tensor/index.js';
import { type Prediction, topK } from './labels.js';
import { preprocessImages } from './preprocess.js';
import { type Preset, resolvePreset } from './presets.js';

// Per-example steps for pipelines (RunInference, classify-dir): the Classy preprocessor
// and top-k, one example at a time, so a bad image is its own dead letter.

/** A per-example step: one encoded image → the preset's tensor with a batch dimension of 1. */
export function presetPreprocess(preset: string | Preset, presets?: ReadonlyMap<string, Preset>): (image: Uint8Array) => Promise<Tensor> {
  const p = resolvePreset(preset, presets); // an unknown preset fails here, before any image is read
  // One image per call: the engine runs the step per example, so a bad image is its own dead letter.
  return async (image) => {
    try {
      return await preprocessImages([image], p, { concurrency: 1 });
    } catch (e) {
      // Classy numbers images within its batch ("image 0: …"); here the batch is this one example.
      if (e instanceof ModelpipeError) throw new ModelpipeError(e.code, e.message.replace(/^image 0: /, ''), { cause: e });
      throw e;
    }
  };
}

/** Top-1 of a probability tensor (Classy's topK), labelled when labels are given. */
export function top1(probs: Tensor, labels?: readonly string[]): Prediction {
  return topK(probs.data as Float32Array, 1, labels)[0] as Prediction;
}
