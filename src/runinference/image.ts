/**
 * Minimal squeezenet preset for classifyDir.
 * TO BE REPLACED by the shared Classy preprocessor when the branches are merged: this
 * exists only so RunInference can classify images on its own branch.
 *
 * squeezenet1.1 (shared/models): float32 [1,3,224,224], NCHW, BGR planes, values 0–255,
 * plain resize to 224×224 (fill, no crop, no mean subtraction).
 */
import sharp from 'sharp';
import { ModelpipeError } from '../errors/index.js';
import { Tensor } from '../tensor/index.js';

export const SQUEEZENET_SIZE = 224;

/** Decodes an encoded image (PNG/JPEG/...) into the squeezenet input tensor [1,3,224,224]. */
export async function squeezenetPreprocess(image: Uint8Array, size = SQUEEZENET_SIZE): Promise<Tensor> {
  let raw: Buffer;
  try {
    raw = await sharp(image).removeAlpha().toColourspace('srgb').resize(size, size, { fit: 'fill' }).raw().toBuffer();
  } catch (e) {
    throw new ModelpipeError('MP_ERR_IMAGE_DECODE', `cannot decode image: ${(e as Error).message}`, { cause: e });
  }
  const plane = size * size;
  if (raw.length !== plane * 3) throw new ModelpipeError('MP_ERR_IMAGE_DECODE', `decoded ${raw.length} bytes, expected ${plane * 3}`);
  const out = new Float32Array(3 * plane);
  // HWC RGB bytes → CHW BGR floats: one pass over the pixels.
  for (let p = 0, i = 0; p < plane; p++, i += 3) {
    out[p] = raw[i + 2] as number;
    out[plane + p] = raw[i + 1] as number;
    out[2 * plane + p] = raw[i] as number;
  }
  return new Tensor('float32', [1, 3, size, size], out);
}

/** Index and value of the largest element of a probability tensor. */
export function argmax(t: Tensor): { index: number; score: number } {
  const d = t.data as Float32Array;
  let best = 0;
  for (let i = 1; i < d.length; i++) if ((d[i] as number) > (d[best] as number)) best = i;
  return { index: best, score: d[best] as number };
}
