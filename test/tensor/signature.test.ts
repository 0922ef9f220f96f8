import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tensorSignature } from '../../src/runinference/index.js';
import { Tensor, batchSignature } from '../../src/tensor/index.js';

const t = (dtype: 'float32' | 'int32' | 'string', shape: number[]) =>
  dtype === 'string'
    ? new Tensor(
        'string',
        shape,
        Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => new Uint8Array()),
      )
    : Tensor.zeros(dtype, shape);

test('batch signature: dimension 0 is ignored, every other dimension, the rank and the dtype count', () => {
  assert.equal(batchSignature(t('float32', [1, 3, 4])), batchSignature(t('float32', [7, 3, 4])));
  assert.notEqual(batchSignature(t('float32', [1, 3, 4])), batchSignature(t('float32', [1, 4, 3])));
  assert.notEqual(batchSignature(t('float32', [1, 3])), batchSignature(t('float32', [1, 3, 1])));
  assert.notEqual(batchSignature(t('float32', [1, 3])), batchSignature(t('int32', [1, 3])));
  assert.equal(batchSignature(t('string', [1, 2])), batchSignature(t('string', [5, 2])));
});

test('batch signature: names count, their order does not; a Map and a record of the same inputs agree', () => {
  const a = t('float32', [1, 2]);
  const b = t('int32', [2, 5]);
  assert.equal(batchSignature({ a, b }), batchSignature({ b, a }));
  assert.equal(
    batchSignature(
      new Map([
        ['b', b],
        ['a', a],
      ]),
    ),
    batchSignature({ a, b }),
  );
  assert.equal(batchSignature(new Map([['a', a]])), batchSignature({ a }));
  assert.notEqual(batchSignature({ a }), batchSignature({ z: a }));
  assert.notEqual(batchSignature({ a }), batchSignature({ a, b }));
  // A name cannot forge another input list.
  assert.notEqual(batchSignature({ 'a":float32:2,2;"b': a }), batchSignature({ a, b }));
});

test('batch signature: items without tensors are one class', () => {
  for (const x of ['file.png', 42, null, [1, 2], { path: 'x' }, undefined]) assert.equal(batchSignature(x), '*');
  assert.notEqual(batchSignature(t('float32', [1])), '*');
});

test('tensorSignature is the deprecated name of batchSignature', () => {
  assert.equal(tensorSignature, batchSignature);
});
