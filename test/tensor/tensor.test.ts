import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ModelpipeError } from '../../src/errors/index.js';
import { MAX_ELEMENTS, type NumericDType, Tensor, shapeSize } from '../../src/tensor/index.js';

const code = (fn: () => unknown, c: string) => assert.throws(fn, (e: unknown) => e instanceof ModelpipeError && e.code === c);

test('Tensor.fromBytes: aligned bytes become a view, unaligned ones a copy', () => {
  const cases: [NumericDType, number][] = [
    ['int16', 2],
    ['float32', 4],
    ['int64', 8],
    ['float64', 8],
  ];
  for (const [dtype, item] of cases) {
    const backing = new Uint8Array(8 + 2 * item);
    new DataView(backing.buffer).setUint8(1, 0); // keep the buffer ours
    // Write element values little-endian at both offsets.
    const put = (at: number) => {
      const dv = new DataView(backing.buffer);
      if (item === 2) dv.setInt16(at, -300, true);
      if (dtype === 'float32') dv.setFloat32(at, 1.5, true);
      if (dtype === 'int64') dv.setBigInt64(at, -(2n ** 60n), true);
      if (dtype === 'float64') dv.setFloat64(at, -0.1, true);
    };
    put(item);
    const aligned = Tensor.fromBytes(dtype, [1], backing.subarray(item, 2 * item));
    assert.equal((aligned.data as Float64Array).buffer, backing.buffer, `${dtype} aligned is a view`);
    put(item + 1);
    const unaligned = Tensor.fromBytes(dtype, [1], backing.subarray(item + 1, 2 * item + 1));
    assert.notEqual((unaligned.data as Float64Array).buffer, backing.buffer, `${dtype} unaligned is a copy`);
    assert.equal((unaligned.data as Float64Array).byteOffset % item, 0);
    assert.deepEqual([...unaligned.bytes()], [...backing.subarray(item + 1, 2 * item + 1)], `${dtype} same bytes`);
  }
  code(() => Tensor.fromBytes('float32', [1], new Uint8Array(3)), 'MP_ERR_TENSOR_SIZE');
  code(() => Tensor.fromBytes('float32', [2], new Uint8Array(4)), 'MP_ERR_TENSOR_SIZE');
});

test('shape guards: negative, non-integer, unsafe and > 2^50 elements', () => {
  for (const bad of [[-1], [1.5], [Number.NaN], [2 ** 53], [2 ** 25, 2 ** 26], [2 ** 51]]) {
    code(() => shapeSize(bad), 'MP_ERR_TENSOR_SHAPE');
    code(() => new Tensor('float32', bad, new Float32Array(0)), 'MP_ERR_TENSOR_SHAPE');
  }
  code(() => shapeSize(['2' as unknown as number]), 'MP_ERR_TENSOR_SHAPE');
  assert.equal(shapeSize([2 ** 25, 2 ** 25]), MAX_ELEMENTS);
  assert.equal(shapeSize([]), 1);
  // Any zero dim means no elements, however large the others are.
  assert.equal(shapeSize([2 ** 51, 0]), 0);
  assert.equal(shapeSize([0, 2 ** 52, 2 ** 52]), 0);
  code(() => shapeSize([0, -1]), 'MP_ERR_TENSOR_SHAPE');
});

test('constructor checks dtype and size against the data', () => {
  code(() => new Tensor('float32', [2], new Float64Array(2)), 'MP_ERR_TENSOR_DTYPE');
  code(() => new Tensor('float32', [3], new Float32Array(2)), 'MP_ERR_TENSOR_SIZE');
  code(() => new Tensor('string', [2], [new Uint8Array(1)]), 'MP_ERR_TENSOR_SIZE');
  code(() => new Tensor('string', [1], new Uint8Array(1)), 'MP_ERR_TENSOR_DTYPE');
  code(() => new Tensor('null', [1], new Uint8Array(1)), 'MP_ERR_TENSOR_DTYPE');
  const t = new Tensor('uint16', [2, 2], new Uint16Array(4));
  assert.ok(Object.isFrozen(t.shape));
  assert.equal(t.byteLength, 8);
});

test('string tensors: NUL bytes, byte lengths, UTF-8 decoding', () => {
  const t = Tensor.fromStrings(['a\0', '\0\0', 'é'], [3]);
  assert.equal(t.byteLength, 2 + 2 + 2);
  assert.deepEqual(t.strings(), ['a\0', '\0\0', 'é']);
  code(() => t.bytes(), 'MP_ERR_TENSOR_DTYPE');
  code(() => new Tensor('uint8', [1], Uint8Array.of(1)).strings(), 'MP_ERR_TENSOR_DTYPE');
});
