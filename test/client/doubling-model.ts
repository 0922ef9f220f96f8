import { Tensor } from '../../src/tensor/index.js';

/** The model both client test files serve: y = 2x over [batch, 2] float32. */
export const io = {
  inputs: [{ name: 'x', dtype: 'float32' as const, shape: [-1, 2] }],
  outputs: [{ name: 'y', dtype: 'float32' as const, shape: [-1, 2] }],
};

export const doubled = (x: Tensor): Tensor =>
  new Tensor(
    'float32',
    x.shape,
    (x.data as Float32Array).map((v) => v * 2),
  );

export const input = (): Tensor => new Tensor('float32', [1, 2], new Float32Array([1.5, -2]));
