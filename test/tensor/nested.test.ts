import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ModelpipeError } from '../../src/errors/index.js';
import { DTYPES, type DType, type Scalar, Tensor, fromFlat, fromNested, toFlat, toNested } from '../../src/tensor/index.js';

const throwsCode = (fn: () => unknown, code: string, message?: RegExp) =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ModelpipeError, `threw ${String(e)}`);
    assert.equal(e.code, code);
    if (message) assert.match(e.message, message);
    return true;
  });

test('fromNested infers shape and dtype; toNested inverts it', () => {
  const cases: [unknown, number[], DType][] = [
    [
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      [2, 3],
      'float32',
    ],
    [[[[7n]], [[-8n]]], [2, 1, 1], 'int64'],
    [[true, false], [2], 'bool'],
    [['a', 'b\0c'], [2], 'string'],
    [5, [], 'float32'],
    [[], [0], 'float32'],
    [[[], []], [2, 0], 'float32'],
  ];
  for (const [value, shape, dtype] of cases) {
    const t = fromNested(value as Parameters<typeof fromNested>[0]);
    assert.deepEqual([...t.shape], shape);
    assert.equal(t.dtype, dtype);
    const back = toNested(t);
    assert.deepEqual(back, value);
  }
});

test('fromNested with an explicit dtype, and 64-bit values beyond 2^53', () => {
  const t = fromNested(
    [
      [2n ** 63n - 1n, -(2n ** 63n)],
      [2n ** 53n + 1n, 0n],
    ],
    'int64',
  );
  assert.deepEqual(toNested(t), [
    [2n ** 63n - 1n, -(2n ** 63n)],
    [2n ** 53n + 1n, 0n],
  ]);
  const u = fromNested([1.5, 2.5], 'int32');
  assert.deepEqual([...(u.data as Int32Array)], [1, 2]);
  const h = fromNested([1, 0.5, 65520], 'float16');
  assert.deepEqual(toFlat(h), [1, 0.5, Number.POSITIVE_INFINITY]);
});

test('ragged input names the offending index path', () => {
  throwsCode(
    () =>
      fromNested([
        [[1], [2], [3]],
        [[4], [5], 6],
      ]),
    'MP_ERR_TENSOR_RAGGED',
    /element \[1\]\[2\] is a scalar/,
  );
  throwsCode(
    () =>
      fromNested([
        [1, 2, 3],
        [4, 5],
      ]),
    'MP_ERR_TENSOR_RAGGED',
    /element \[1\] has length 2, expected 3/,
  );
  throwsCode(
    () =>
      fromNested([
        [1, 2],
        [3, [4]],
      ]),
    'MP_ERR_TENSOR_RAGGED',
    /element \[1\]\[1\] is an array/,
  );
  throwsCode(() => fromNested([[1], 2]), 'MP_ERR_TENSOR_RAGGED', /element \[1\] is a scalar/);
});

test('fromFlat builds every dtype exactly', () => {
  const values: Record<Exclude<DType, 'string' | 'null'>, Scalar[]> = {
    uint8: [0, 255],
    int8: [-128, 127],
    uint16: [0, 65535],
    int16: [-32768, 32767],
    uint32: [0, 2 ** 32 - 1],
    int32: [-(2 ** 31), 2 ** 31 - 1],
    uint64: [0n, 2n ** 64n - 1n],
    int64: [-(2n ** 63n), 2n ** 63n - 1n],
    float16: [0.5, -2],
    float32: [0.25, -(2 ** 100)],
    float64: [Math.PI, Number.MIN_VALUE],
    bool: [true, false],
  };
  for (const [dtype, flat] of Object.entries(values) as [DType, Scalar[]][]) {
    const t = fromFlat(flat, [2], dtype);
    assert.equal(t.dtype, dtype);
    assert.ok(t.data instanceof (DTYPES[dtype].ctor as NonNullable<(typeof DTYPES)['uint8']['ctor']>), dtype);
    assert.deepEqual(toFlat(t), flat, dtype);
  }
  // Numbers convert to 64-bit ints; bigints to floats.
  assert.deepEqual(toFlat(fromFlat([3, -4.7], [2], 'int64')), [3n, -4n]);
  assert.deepEqual(toFlat(fromFlat([3n], [1], 'float64')), [3]);
});

test('fromFlat: strings keep NUL and raw bytes; type mismatches are rejected', () => {
  const raw = Uint8Array.of(0xff, 0x00, 0x41);
  const t = fromFlat(['a\0b', raw, ''], [3], 'string');
  const data = t.data as readonly Uint8Array[];
  assert.deepEqual([...(data[0] as Uint8Array)], [0x61, 0, 0x62]);
  assert.equal(data[1], raw);
  assert.deepEqual(t.strings()[0], 'a\0b');
  throwsCode(() => fromFlat([1], [1], 'string'), 'MP_ERR_TENSOR_DTYPE');
  throwsCode(() => fromFlat(['x'], [1], 'float32'), 'MP_ERR_TENSOR_DTYPE');
  throwsCode(() => fromFlat([1], [1], 'null'), 'MP_ERR_TENSOR_DTYPE');
  throwsCode(() => fromFlat([1, 2, 3], [2], 'float32'), 'MP_ERR_TENSOR_SIZE');
});

test('fromFlat rejects non-integral values for 64-bit integer tensors with a ModelpipeError', () => {
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
    for (const dtype of ['int64', 'uint64'] as const) throwsCode(() => fromFlat([bad], [1], dtype), 'MP_ERR_TENSOR_DTYPE');
  }
});

test('toNested of multi-dim, scalar and empty tensors', () => {
  const t = new Tensor('int32', [2, 1, 2], Int32Array.of(1, 2, 3, 4));
  assert.deepEqual(toNested(t), [[[1, 2]], [[3, 4]]]);
  assert.deepEqual(toNested(new Tensor('float32', [0, 3], new Float32Array(0))), []);
  assert.deepEqual(toNested(new Tensor('uint8', [2, 0], new Uint8Array(0))), [[], []]);
  assert.equal(toNested(Tensor.fromStrings(['only'], [])), 'only');
});
