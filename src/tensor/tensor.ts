import { largeBuffers } from './buffer-pool.js';
import { ModelpipeError } from '../errors/index.js';
import { DTYPES, type DType, type NumericArray, type NumericDType, isNumericDType } from './dtype.js';
import { type Shape, formatShape, shapeSize } from './shape.js';

/** Storage of a tensor: a typed array for numeric types, one byte string per element for strings. */
export type TensorData = NumericArray | readonly Uint8Array[];

const utf8 = new TextEncoder();
// ignoreBOM: a leading U+FEFF is part of the element, not a marker to strip.
const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * An immutable-by-convention n-dimensional array. `data` may be a view into a larger
 * buffer (a decoded message, a worker's output): tensors never copy on construction.
 */
export class Tensor {
  readonly dtype: DType;
  readonly shape: Shape;
  readonly data: TensorData;

  constructor(dtype: DType, shape: Shape, data: TensorData) {
    const size = shapeSize(shape);
    if (dtype === 'string') {
      if (!Array.isArray(data)) throw new ModelpipeError('MP_ERR_TENSOR_DTYPE', 'string tensor data must be an array of Uint8Array');
      if (data.length !== size) {
        throw new ModelpipeError(
          'MP_ERR_TENSOR_SIZE',
          `string tensor of shape ${formatShape(shape)} needs ${size} elements, got ${data.length}`,
        );
      }
    } else if (dtype === 'null') {
      if (size !== 0 && !(data instanceof Uint8Array && data.length === 0)) {
        throw new ModelpipeError('MP_ERR_TENSOR_DTYPE', 'null tensors carry no data');
      }
    } else {
      const ctor = DTYPES[dtype].ctor;
      if (ctor === undefined || !(data instanceof ctor)) {
        throw new ModelpipeError('MP_ERR_TENSOR_DTYPE', `${dtype} tensor data must be a ${ctor?.name ?? 'typed array'}`);
      }
      if (data.length !== size) {
        throw new ModelpipeError(
          'MP_ERR_TENSOR_SIZE',
          `${dtype} tensor of shape ${formatShape(shape)} needs ${size} elements, got ${data.length}`,
        );
      }
    }
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.data = data;
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }

  /** Bytes of payload (strings: sum of element lengths). */
  get byteLength(): number {
    if (Array.isArray(this.data)) {
      let n = 0;
      for (const s of this.data as readonly Uint8Array[]) n += s.length;
      return n;
    }
    return (this.data as NumericArray).byteLength;
  }

  /** Little-endian bytes of a numeric tensor, as a view (no copy). */
  bytes(): Uint8Array {
    if (Array.isArray(this.data)) throw new ModelpipeError('MP_ERR_TENSOR_DTYPE', 'string tensors have no flat byte view');
    const d = this.data as NumericArray;
    return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  }

  /** String elements decoded as UTF-8. */
  strings(): string[] {
    if (this.dtype !== 'string') throw new ModelpipeError('MP_ERR_TENSOR_DTYPE', `strings() on a ${this.dtype} tensor`);
    return (this.data as readonly Uint8Array[]).map((b) => utf8Decoder.decode(b));
  }

  /** Typed accessor that checks the dtype. */
  as<T extends NumericDType>(dtype: T): NumericArray {
    if (this.dtype !== dtype) throw new ModelpipeError('MP_ERR_TENSOR_DTYPE', `expected a ${dtype} tensor, got ${this.dtype}`);
    return this.data as NumericArray;
  }

  static fromBytes(dtype: NumericDType, shape: Shape, bytes: Uint8Array): Tensor {
    const ctor = DTYPES[dtype].ctor;
    if (ctor === undefined) throw new ModelpipeError('MP_ERR_TENSOR_DTYPE', `no storage for ${dtype}`);
    const item = ctor.BYTES_PER_ELEMENT;
    if (bytes.byteLength % item !== 0) {
      throw new ModelpipeError('MP_ERR_TENSOR_SIZE', `${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
    }
    const n = bytes.byteLength / item;
    let data: NumericArray;
    if (bytes.byteOffset % item === 0) {
      data = new ctor(bytes.buffer, bytes.byteOffset, n);
    } else {
      // Unaligned (e.g. graphpipe-py output, protobuf bytes): one copy into aligned
      // memory of our own, recycled when large (see BufferPool).
      data = new ctor(largeBuffers.take(bytes.byteLength), 0, n);
      new Uint8Array(data.buffer).set(bytes);
    }
    return new Tensor(dtype, shape, data);
  }

  /** A string tensor from JS strings (UTF-8) or raw byte strings. */
  static fromStrings(values: readonly (string | Uint8Array)[], shape: Shape = [values.length]): Tensor {
    return new Tensor(
      'string',
      shape,
      values.map((v) => (typeof v === 'string' ? utf8.encode(v) : v)),
    );
  }

  static zeros(dtype: NumericDType, shape: Shape): Tensor {
    const ctor = DTYPES[dtype].ctor as NonNullable<(typeof DTYPES)[NumericDType]['ctor']>;
    return new Tensor(dtype, shape, new ctor(shapeSize(shape)));
  }
}

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}

export { isNumericDType };
