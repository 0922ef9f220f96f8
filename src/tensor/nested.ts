import { ModelpipeError } from '../errors/index.js';
import { DTYPES, type DType, type NumericArray, isBigIntDType } from './dtype.js';
import { float16BitsToFloat32, float32ToFloat16Bits } from './float16.js';
import { MAX_RANK } from './shape.js';
import { Tensor } from './tensor.js';

/** What nested JS arrays may hold at their leaves. */
export type Scalar = number | bigint | boolean | string | Uint8Array;
export type Nested = Scalar | readonly Nested[];

function isLeaf(x: unknown): boolean {
  return !Array.isArray(x);
}

/** Infers a shape from the first element at each depth. */
function inferShape(value: Nested): number[] {
  const shape: number[] = [];
  let cur: unknown = value;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0];
  }
  return shape;
}

function inferDType(value: Nested): DType {
  let cur: unknown = value;
  while (Array.isArray(cur)) cur = cur[0];
  if (typeof cur === 'string' || cur instanceof Uint8Array) return 'string';
  if (typeof cur === 'bigint') return 'int64';
  if (typeof cur === 'boolean') return 'bool';
  return 'float32';
}

/**
 * Builds a tensor from nested arrays (`[[0,1],[2,3]]`). Ragged input is rejected with
 * the index path of the first offending element, e.g. `[1][2]`.
 */
export function fromNested(value: Nested, dtype: DType = inferDType(value)): Tensor {
  const shape = inferShape(value);
  // The walk below recurses once per dimension: bound it (200 000 deep overflowed the stack).
  if (shape.length > MAX_RANK)
    throw new ModelpipeError('MP_ERR_WIRE_TOO_DEEP', `nested array is ${shape.length} deep, more than ${MAX_RANK}`);
  const flat: Scalar[] = [];
  const walk = (v: unknown, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (!isLeaf(v)) throw new ModelpipeError('MP_ERR_TENSOR_RAGGED', `ragged array: element ${path} is an array, expected a scalar`);
      flat.push(v as Scalar);
      return;
    }
    if (!Array.isArray(v))
      throw new ModelpipeError(
        'MP_ERR_TENSOR_RAGGED',
        `ragged array: element ${path || '(root)'} is a scalar, expected length ${shape[depth]}`,
      );
    if (v.length !== shape[depth]) {
      throw new ModelpipeError(
        'MP_ERR_TENSOR_RAGGED',
        `ragged array: element ${path || '(root)'} has length ${v.length}, expected ${shape[depth]}`,
      );
    }
    for (let i = 0; i < v.length; i++) walk(v[i], depth + 1, `${path}[${i}]`);
  };
  walk(value, 0, '');
  return fromFlat(flat, shape, dtype);
}

/** Builds a tensor from a flat list of scalars. */
export function fromFlat(flat: readonly Scalar[], shape: readonly number[], dtype: DType): Tensor {
  if (dtype === 'string') {
    return Tensor.fromStrings(
      flat.map((x, i) => {
        if (typeof x === 'string' || x instanceof Uint8Array) return x;
        throw new ModelpipeError('MP_ERR_TENSOR_DTYPE', `element ${i} of a string tensor is a ${typeof x}`);
      }),
      shape,
    );
  }
  const ctor = DTYPES[dtype].ctor;
  if (ctor === undefined) throw new ModelpipeError('MP_ERR_TENSOR_DTYPE', `cannot build a ${dtype} tensor from values`);
  const out = new ctor(flat.length);
  const big = isBigIntDType(dtype);
  for (let i = 0; i < flat.length; i++) {
    const x = flat[i];
    if (typeof x === 'string' || x instanceof Uint8Array) {
      throw new ModelpipeError('MP_ERR_TENSOR_DTYPE', `element ${i} of a ${dtype} tensor is a string`);
    }
    if (big) {
      const v = typeof x === 'bigint' ? x : Math.trunc(Number(x));
      // BigInt(NaN or ±Infinity) would throw a bare RangeError.
      if (typeof v === 'number' && !Number.isFinite(v)) {
        throw new ModelpipeError('MP_ERR_TENSOR_DTYPE', `element ${i} of a ${dtype} tensor is ${v}, not an integer`);
      }
      (out as BigInt64Array)[i] = typeof v === 'bigint' ? v : BigInt(v);
    } else if (dtype === 'float16') {
      (out as Uint16Array)[i] = float32ToFloat16Bits(Number(x));
    } else {
      (out as Float64Array)[i] = Number(x);
    }
  }
  return new Tensor(dtype, shape, out);
}

/** Flat JS values of a tensor: numbers (float16 decoded), bigints for 64-bit ints, booleans, strings. */
export function toFlat(t: Tensor): Scalar[] {
  if (t.dtype === 'string') return t.strings();
  if (t.dtype === 'float16') return Array.from(t.data as Uint16Array, float16BitsToFloat32);
  if (t.dtype === 'bool') return Array.from(t.data as Uint8Array, (b) => b !== 0);
  return Array.from(t.data as NumericArray as ArrayLike<number | bigint>);
}

/** Nested JS arrays of a tensor (the inverse of fromNested). */
export function toNested(t: Tensor): Nested {
  const flat = toFlat(t);
  if (t.shape.length === 0) return flat[0] ?? 0;
  let pos = 0;
  const build = (depth: number): Nested => {
    const n = t.shape[depth] as number;
    const out: Nested[] = new Array(n);
    if (depth === t.shape.length - 1) {
      for (let i = 0; i < n; i++) out[i] = flat[pos++] as Scalar;
    } else {
      for (let i = 0; i < n; i++) out[i] = build(depth + 1);
    }
    return out;
  };
  return build(0);
}

/** JSON-safe nested values: bigints become numbers when safe, strings otherwise. */
export function toJSONValue(t: Tensor): unknown {
  return JSON.parse(
    JSON.stringify(toNested(t), (_k, v: unknown) =>
      typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v,
    ),
  );
}
