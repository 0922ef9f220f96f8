import assert from 'node:assert/strict';
import { DTYPES, type DType, type NumericArray, Tensor } from '../../src/tensor/index.js';

/**
 * Tensors covering every GraphPipe type with edge values: extremes, 64-bit values
 * beyond 2^53 (which a Number round-trip would corrupt), raw float16 words
 * (NaN, Inf, subnormal), NaN/-0 floats, strings holding NUL and non-UTF-8 bytes,
 * scalars, multi-dimensional and empty shapes.
 */
export function dtypeMatrix(): Tensor[] {
  const b = (...xs: number[]) => Uint8Array.from(xs);
  return [
    new Tensor('uint8', [3], b(0, 1, 255)),
    new Tensor('int8', [3], Int8Array.of(-128, 0, 127)),
    new Tensor('uint16', [2], Uint16Array.of(0, 65535)),
    new Tensor('int16', [2], Int16Array.of(-32768, 32767)),
    new Tensor('uint32', [2], Uint32Array.of(0, 2 ** 32 - 1)),
    new Tensor('int32', [2, 2], Int32Array.of(-(2 ** 31), 2 ** 31 - 1, -1, 7)),
    new Tensor('uint64', [3], BigUint64Array.of(0n, 2n ** 64n - 1n, 2n ** 53n + 1n)),
    new Tensor('int64', [2, 2], BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n, 2n ** 53n + 1n, -(2n ** 53n) - 3n)),
    new Tensor('float16', [4], Uint16Array.of(0x3c00, 0x7c00, 0x7e01, 0x8001)),
    new Tensor('float32', [5], Float32Array.of(1.5, -0, Number.NaN, Number.POSITIVE_INFINITY, 3.4e38)),
    new Tensor('float64', [1, 3], Float64Array.of(Math.PI, -Number.MIN_VALUE, Number.MAX_VALUE)),
    new Tensor('float32', [], Float32Array.of(42)),
    new Tensor(
      'float32',
      [2, 1, 3, 1],
      Float32Array.from({ length: 6 }, (_, i) => i / 3),
    ),
    new Tensor('float64', [0, 3], new Float64Array(0)),
    new Tensor('int64', [0], new BigInt64Array(0)),
    Tensor.fromStrings(['a\0b', b(0xff, 0xfe, 0x00, 0xc0), '', 'ünï\u{1F600}'], [2, 2]),
    Tensor.fromStrings([], [0, 3]),
    Tensor.fromStrings(['\0'], []),
    new Tensor('bool', [3], b(1, 0, 1)),
    new Tensor('null', [2], new Uint8Array(0)),
  ];
}

/** What a tensor looks like on the wire: bool travels as uint8. */
export function wireDType(t: Tensor): DType {
  return t.dtype === 'bool' ? 'uint8' : t.dtype;
}

export function tensorBytes(t: Tensor): Uint8Array {
  if (t.dtype === 'string' || t.dtype === 'null') return new Uint8Array(0);
  return t.bytes();
}

/** Exact equality: dtype (as on the wire), shape, and the payload bytes (so NaN and -0 compare exactly). */
export function assertSameTensor(actual: Tensor, expected: Tensor, what = 'tensor'): void {
  assert.equal(actual.dtype, wireDType(expected), `${what} dtype`);
  assert.deepEqual([...actual.shape], [...expected.shape], `${what} shape`);
  if (expected.dtype === 'string') {
    const a = actual.data as readonly Uint8Array[];
    const e = expected.data as readonly Uint8Array[];
    assert.equal(a.length, e.length, `${what} string count`);
    e.forEach((s, i) => {
      assert.deepEqual(Buffer.from(a[i] as Uint8Array), Buffer.from(s), `${what} string ${i}`);
    });
    return;
  }
  if (expected.dtype === 'null') return;
  assert.ok(actual.data instanceof (DTYPES[wireDType(expected)].ctor as NonNullable<(typeof DTYPES)['uint8']['ctor']>));
  assert.deepEqual(Buffer.from(actual.bytes()), Buffer.from(tensorBytes(expected)), `${what} bytes`);
}

/** True when `data` is a view into `msg`'s memory (zero-copy decode). */
export function isViewInto(data: Tensor['data'], msg: Uint8Array): boolean {
  return !Array.isArray(data) && (data as NumericArray).buffer === msg.buffer;
}

/** Seeded PRNG (mulberry32): reproducible fuzzing and data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
