import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ModelpipeError } from '../../src/errors/index.js';
import { Tensor, concat, row, split, stackInputs, toNested, unstackNamed, unstackOutputs } from '../../src/tensor/index.js';

const concatError = (fn: () => unknown) =>
  assert.throws(fn, (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_TENSOR_CONCAT');

test('concat along dim 0: numeric', () => {
  const a = new Tensor('float32', [1, 2], Float32Array.of(1, 2));
  const b = new Tensor('float32', [2, 2], Float32Array.of(3, 4, 5, 6));
  const c = concat([a, b]);
  assert.deepEqual([...c.shape], [3, 2]);
  assert.deepEqual(toNested(c), [
    [1, 2],
    [3, 4],
    [5, 6],
  ]);
  // The result owns its memory: later writes to the parts do not leak into it.
  (a.data as Float32Array)[0] = 99;
  assert.equal((c.data as Float32Array)[0], 1);
  const big = concat([new Tensor('int64', [1], BigInt64Array.of(2n ** 62n)), new Tensor('int64', [0], new BigInt64Array(0))]);
  assert.deepEqual([...(big.data as BigInt64Array)], [2n ** 62n]);
});

test('concat along dim 0: strings (raw bytes kept)', () => {
  const a = Tensor.fromStrings(['a', 'b'], [1, 2]);
  const b = Tensor.fromStrings([Uint8Array.of(0xff, 0), 'd'], [1, 2]);
  const c = concat([a, b]);
  assert.deepEqual([...c.shape], [2, 2]);
  assert.deepEqual(
    (c.data as readonly Uint8Array[]).map((s) => [...s]),
    [[0x61], [0x62], [0xff, 0], [0x64]],
  );
});

test('concat rejects mismatched dtypes, shapes, ranks, scalars and nothing', () => {
  const f = new Tensor('float32', [1, 2], Float32Array.of(1, 2));
  concatError(() => concat([f, new Tensor('float64', [1, 2], Float64Array.of(1, 2))]));
  concatError(() => concat([f, new Tensor('float32', [1, 3], Float32Array.of(1, 2, 3))]));
  concatError(() => concat([f, new Tensor('float32', [2], Float32Array.of(1, 2))]));
  concatError(() => concat([f, Tensor.fromStrings(['a', 'b'], [1, 2])]));
  concatError(() => concat([new Tensor('float32', [], Float32Array.of(1)), new Tensor('float32', [], Float32Array.of(2))]));
  concatError(() => concat([]));
});

test('split along dim 0 returns views for numeric data', () => {
  const t = new Tensor(
    'int32',
    [4, 2],
    Int32Array.from({ length: 8 }, (_, i) => i),
  );
  const parts = split(t, [1, 0, 3]);
  assert.deepEqual(
    parts.map((p) => [...p.shape]),
    [
      [1, 2],
      [0, 2],
      [3, 2],
    ],
  );
  const last = parts[2] as Tensor;
  assert.deepEqual([...(last.data as Int32Array)], [2, 3, 4, 5, 6, 7]);
  for (const p of parts) assert.equal((p.data as Int32Array).buffer, (t.data as Int32Array).buffer);
  (t.data as Int32Array)[2] = -1;
  assert.equal((last.data as Int32Array)[0], -1, 'a view sees writes to the parent');
  assert.deepEqual(toNested(concat(split(t, [2, 2]))), toNested(t));
});

test('split strings, and bad row counts', () => {
  const s = Tensor.fromStrings(['a', 'b', 'c'], [3]);
  assert.deepEqual(
    split(s, [2, 1]).map((p) => p.strings()),
    [['a', 'b'], ['c']],
  );
  concatError(() => split(s, [2, 2]));
  concatError(() => split(new Tensor('float32', [], Float32Array.of(1)), [1]));
});

test('row() is a view of one row', () => {
  const t = new Tensor('float64', [3, 2], Float64Array.of(0, 1, 2, 3, 4, 5));
  const r = row(t, 1);
  assert.deepEqual([...r.shape], [1, 2]);
  assert.deepEqual([...(r.data as Float64Array)], [2, 3]);
  assert.equal((r.data as Float64Array).buffer, (t.data as Float64Array).buffer);
  assert.throws(
    () => row(t, 3),
    (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_TENSOR_SHAPE',
  );
});

test("stackInputs: Maps or records stack per name along dim 0, with each example's rows", () => {
  const x1 = new Tensor('float32', [1, 2], Float32Array.of(1, 2));
  const x2 = new Tensor('float32', [2, 2], Float32Array.of(3, 4, 5, 6));
  const y1 = new Tensor('int32', [1], Int32Array.of(7));
  const y2 = new Tensor('int32', [2], Int32Array.of(8, 9));
  const { inputs, rows } = stackInputs([
    new Map([
      ['x', x1],
      ['y', y1],
    ]),
    { y: y2, x: x2 },
  ]);
  assert.deepEqual(rows, [1, 2]);
  assert.deepEqual([...inputs.keys()], ['x', 'y']);
  assert.deepEqual(toNested(inputs.get('x') as Tensor), [
    [1, 2],
    [3, 4],
    [5, 6],
  ]);
  assert.deepEqual(toNested(inputs.get('y') as Tensor), [7, 8, 9]);
  // One example is not copied: its own tensors go through.
  assert.equal(stackInputs([{ x: x1 }]).inputs.get('x'), x1);
});

test('stackInputs: examples must name the same inputs, and none may be a scalar', () => {
  const x = Tensor.zeros('float32', [1, 2]);
  const code = (c: string) => (e: unknown) => e instanceof ModelpipeError && e.code === c;
  assert.throws(() => stackInputs([{ x }, { z: x }]), code('MP_ERR_INPUT_COUNT'));
  assert.throws(() => stackInputs([{ x }, { x, z: x }]), code('MP_ERR_INPUT_COUNT'));
  assert.throws(() => stackInputs([{ x: Tensor.zeros('float32', []) }]), code('MP_ERR_INPUT_RANK'));
  assert.throws(() => stackInputs([]), code('MP_ERR_TENSOR_CONCAT'));
});

test('unstackOutputs: per example its own rows, as views; a wrong row count fails with the given code', () => {
  const out = new Tensor('float32', [3, 2], Float32Array.of(1, 2, 3, 4, 5, 6));
  const per = unstackOutputs([out], [1, 2]);
  assert.deepEqual(toNested(per[0]?.[0] as Tensor), [[1, 2]]);
  assert.deepEqual(toNested(per[1]?.[0] as Tensor), [
    [3, 4],
    [5, 6],
  ]);
  assert.equal((((per[1] as Tensor[])[0] as Tensor).data as Float32Array).buffer, (out.data as Float32Array).buffer, 'a view, not a copy');
  const named = unstackNamed(['y'], [out], [2, 1]);
  assert.deepEqual(toNested(named[1]?.y as Tensor), [[5, 6]]);
  const code = (c: string) => (e: unknown) => e instanceof ModelpipeError && e.code === c;
  assert.throws(() => unstackOutputs([out], [1, 1]), code('MP_ERR_MODEL_OUTPUT'));
  assert.throws(() => unstackNamed(['y'], [out], [4], 'MP_ERR_BAD_RESPONSE'), code('MP_ERR_BAD_RESPONSE'));
});
