import sharp from 'sharp';
import { Tensor } from '../../src/tensor/index.js';

/**
 * SqueezeNet input for an image file, written independently of the Classy
 * preprocessor: resize to 224×224 (plain resize), BGR planes, NCHW, 0–255 float32.
 */
export async function squeezenetInput(path: string): Promise<Tensor> {
  const { data } = await sharp(path).removeAlpha().resize(224, 224, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
  const plane = 224 * 224;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    out[i] = data[i * 3 + 2] as number; // B
    out[plane + i] = data[i * 3 + 1] as number; // G
    out[2 * plane + i] = data[i * 3] as number; // R
  }
  return new Tensor('float32', [1, 3, 224, 224], out);
}

export function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if ((a[i] as number) > (a[best] as number)) best = i;
  return best;
}
