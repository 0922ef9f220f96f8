/**
 * Handler modules for the streams benchmark (loaded by worker processes by path and export).
 * A record `{x}` is doubled (`double`) or turned into a deterministic 3×224×224 image for
 * squeezenet (`squeezenet`); a record with `crash: true` kills its worker (exit 70), as a
 * model that segfaults on one input would.
 */
import { join } from 'node:path';
import { functionHandler, onnxHandler, withPreprocess } from '../../src/runinference/index.js';
import { Tensor } from '../../src/tensor/index.js';

type Rec = { x: number; crash?: boolean };

const crashOn = (r: Rec): void => {
  if (r?.crash === true) process.exit(70);
};

export const double = functionHandler(
  (xs: readonly Rec[]) =>
    xs.map((r) => {
      crashOn(r);
      return r.x * 2;
    }),
  { modelId: 'double' },
);

export function squeezenet(): unknown {
  const model = join(process.env.MODELPIPE_SHARED ?? '/work/shared', 'models', 'squeezenet1.1.onnx');
  const h = onnxHandler({ model, workers: 1 });
  return withPreprocess(h, (r: Rec) => {
    crashOn(r);
    const data = new Float32Array(3 * 224 * 224).fill((r.x % 255) / 255);
    return new Tensor('float32', [1, 3, 224, 224], data);
  });
}
