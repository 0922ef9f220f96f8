import { ModelpipeError, quote } from '../../errors/index.js';
import {
  DTYPES,
  type DType,
  type NumericArray,
  Tensor,
  float16BitsToFloat32,
  float32ToFloat16Bits,
  MAX_RANK,
  MAX_STRING_ELEMENTS,
  formatShape,
  shapeSize,
} from '../../tensor/index.js';
import { oipFromDtype } from './datatypes.js';

/**
 * JSON tensor data: `data` is row-major, flat or nested. Numbers for numeric types,
 * true/false for BOOL, strings for BYTES (UTF-8). Non-finite floats, which JSON
 * cannot spell, travel as the strings "NaN", "Infinity" and "-Infinity"; 64-bit
 * integers beyond ±2^53 (which JSON parsers round) as decimal strings.
 */

const RANGE: Partial<Record<DType, [number, number]>> = {
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 4294967295],
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
};

const utf8 = new TextEncoder();

/**
 * Row-major leaves of `data`. Iterative, and no deeper than MAX_RANK: `data` nested
 * 200 000 deep overflowed the stack of Array#flat (a 500) before this.
 */
function flatten(data: unknown, what: string): unknown[] {
  if (!Array.isArray(data)) return [data];
  // Flat arrays (the common case, and what every client sends for large tensors) skip the copy.
  let nested = false;
  for (let i = 0; i < data.length; i++) {
    if (Array.isArray(data[i])) {
      nested = true;
      break;
    }
  }
  if (!nested) return data;
  const out: unknown[] = [];
  const arrays: unknown[][] = [data];
  const next: number[] = [0];
  while (arrays.length > 0) {
    const top = arrays.length - 1;
    const a = arrays[top] as unknown[];
    const i = next[top] as number;
    if (i === a.length) {
      arrays.pop();
      next.pop();
      continue;
    }
    next[top] = i + 1;
    const v = a[i];
    if (!Array.isArray(v)) out.push(v);
    else if (arrays.length >= MAX_RANK) {
      throw new ModelpipeError('MP_ERR_WIRE_TOO_DEEP', `${what}: "data" is nested more than ${MAX_RANK} deep`);
    } else {
      arrays.push(v);
      next.push(0);
    }
  }
  return out;
}

function bad(what: string, i: number, v: unknown, dtype: DType): never {
  throw new ModelpipeError('MP_ERR_OIP_DATA', `${what}: element ${i} (${quote(v, 40)}) is not a valid ${oipFromDtype(dtype)} value`);
}

function toFloat(v: unknown, what: string, i: number, dtype: DType): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return Number.NaN;
  if (v === 'Infinity') return Number.POSITIVE_INFINITY;
  if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
  return bad(what, i, v, dtype);
}

/** Builds a tensor from a JSON `data` value; counts are checked against the shape. */
export function tensorFromJSON(dtype: DType, shape: number[], data: unknown, what: string): Tensor {
  const count = shapeSize(shape, `${what} shape`);
  if (data === undefined) throw new ModelpipeError('MP_ERR_OIP_DATA', `${what}: no "data" and no binary_data_size parameter`);
  const flat = flatten(data, what);
  if (flat.length !== count) {
    throw new ModelpipeError('MP_ERR_OIP_DATA', `${what}: shape ${formatShape(shape)} needs ${count} elements, data has ${flat.length}`);
  }
  if (dtype === 'string') {
    if (count > MAX_STRING_ELEMENTS) {
      throw new ModelpipeError('MP_ERR_WIRE_TOO_MANY', `${what}: ${count} BYTES elements, more than the ${MAX_STRING_ELEMENTS} allowed`);
    }
    return new Tensor(
      'string',
      shape,
      flat.map((v, i) => (typeof v === 'string' ? utf8.encode(v) : bad(what, i, v, dtype))),
    );
  }
  const ctor = DTYPES[dtype].ctor;
  if (ctor === undefined) throw new ModelpipeError('MP_ERR_OIP_DATATYPE', `${what}: no storage for ${dtype}`);
  const out = new ctor(count);
  if (dtype === 'float32' || dtype === 'float64') {
    const o = out as Float32Array;
    for (let i = 0; i < count; i++) {
      const v = flat[i];
      o[i] = typeof v === 'number' ? v : toFloat(v, what, i, dtype);
    }
  } else if (dtype === 'float16') {
    for (let i = 0; i < count; i++) (out as Uint16Array)[i] = float32ToFloat16Bits(toFloat(flat[i], what, i, dtype));
  } else if (dtype === 'bool') {
    for (let i = 0; i < count; i++) {
      const v = flat[i];
      (out as Uint8Array)[i] = v === true || v === 1 ? 1 : v === false || v === 0 ? 0 : bad(what, i, v, dtype);
    }
  } else if (dtype === 'int64' || dtype === 'uint64') {
    const [lo, hi] = dtype === 'int64' ? [-(2n ** 63n), 2n ** 63n - 1n] : [0n, 2n ** 64n - 1n];
    for (let i = 0; i < count; i++) {
      const v = flat[i];
      let b: bigint;
      if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
      else if (typeof v === 'string' && /^-?\d+$/.test(v)) b = BigInt(v);
      else bad(what, i, v, dtype);
      if (b < lo || b > hi) bad(what, i, v, dtype);
      (out as BigInt64Array)[i] = b;
    }
  } else {
    const [lo, hi] = RANGE[dtype] as [number, number];
    const o = out as Int32Array;
    for (let i = 0; i < count; i++) {
      const v = flat[i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) bad(what, i, v, dtype);
      o[i] = v;
    }
  }
  return new Tensor(dtype, shape, out);
}

function floatsJSON(a: ArrayLike<number>): string {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i] as number)) {
      return JSON.stringify(Array.from(a, (x) => (Number.isFinite(x) ? x : String(x))));
    }
  }
  return `[${Array.prototype.join.call(a, ',')}]`;
}

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** 64-bit integers beyond 2^53 would lose digits in every JSON parser: those travel as digit strings. */
function bigintsJSON(a: BigInt64Array | BigUint64Array): string {
  for (const x of a) {
    if (x > SAFE || x < -SAFE) return `[${Array.from(a, (v) => (v > SAFE || v < -SAFE ? `"${v}"` : String(v))).join(',')}]`;
  }
  return `[${Array.prototype.join.call(a, ',')}]`;
}

/**
 * The JSON text of a tensor's flat `data`, written directly: typed arrays join into
 * JSON numbers (64-bit integers stay exact, as digits) without building JS arrays.
 */
export function tensorDataJSON(t: Tensor): string {
  switch (t.dtype) {
    case 'string':
      return JSON.stringify(t.strings());
    case 'bool':
      return JSON.stringify(Array.from(t.data as Uint8Array, (b) => b !== 0));
    case 'float16':
      return floatsJSON(Array.from(t.data as Uint16Array, float16BitsToFloat32));
    case 'float32':
    case 'float64':
      return floatsJSON(t.data as Float32Array);
    case 'int64':
    case 'uint64':
      return bigintsJSON(t.data as BigInt64Array);
    default:
      return `[${Array.prototype.join.call(t.data as NumericArray, ',')}]`;
  }
}
