export * from './dtype.js';
export * from './shape.js';
export * from './float16.js';
export { Tensor, isTensor, type TensorData } from './tensor.js';
export { fromNested, fromFlat, toNested, toFlat, toJSONValue, type Nested, type Scalar } from './nested.js';
export { concat, split, row, ownedCopy, stackInputs, unstackOutputs, unstackNamed, type NamedTensors, type Stacked } from './batch.js';
export { batchSignature } from './signature.js';
export { parseNpy, toNpy } from './npy.js';
export { BufferPool, POOL_MIN_BYTES, largeBuffers } from './buffer-pool.js';
