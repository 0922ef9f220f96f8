import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classify, formatPrediction, formatPredictions, loadLabels, parseLabels, topK } from '../../src/vision/labels.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { needShared, sharedPath } from '../helpers/shared.js';

test('parseLabels: line i is class i; CRLF and one trailing newline tolerated, blank classes kept', () => {
  assert.deepEqual(parseLabels('a\nb\r\nc\n'), ['a', 'b', 'c']);
  assert.deepEqual(parseLabels('a\n\nc'), ['a', '', 'c']);
});

test('loadLabels reads the shared ImageNet labels', { skip: needShared('models/imagenet-labels.txt') }, async () => {
  const labels = await loadLabels(sharedPath('models/imagenet-labels.txt'));
  assert.equal(labels.length, 1000);
  assert.equal(labels[504], 'coffee mug');
  assert.equal(labels[0], 'tench, Tinca tinca');
});

test('topK: best first, ties to the lower index, NaN never ranks, k clamps to the class count', () => {
  const p = new Float32Array([0.1, 0.4, Number.NaN, 0.4, 0.05, 0.05]);
  const labels = ['a', 'b', 'c', 'd', 'e', 'f'];
  assert.deepEqual(
    topK(p, 3, labels).map((x) => [x.index, x.label]),
    [
      [1, 'b'],
      [3, 'd'],
      [0, 'a'],
    ],
  );
  assert.equal(topK(p, 1, labels)[0]!.probability, p[1]);
  assert.deepEqual(
    topK(p, 10).map((x) => x.index),
    [1, 3, 0, 4, 5],
  );
  assert.equal(topK(p, 1)[0]!.label, 'class 1');
  // A larger, shuffled case against a plain sort.
  const big = new Float32Array(1000).map((_, i) => ((i * 7919) % 1000) / 1000);
  const bySort = [...big.keys()].sort((a, b) => big[b]! - big[a]! || a - b).slice(0, 5);
  assert.deepEqual(
    topK(big, 5).map((x) => x.index),
    bySort,
  );
});

test('topK refuses a bad k and a labels list of the wrong length', () => {
  const p = new Float32Array([0.5, 0.5]);
  for (const k of [0, -1, 1.5])
    assert.throws(
      () => topK(p, k),
      (e) => e instanceof ModelpipeError && e.code === 'MP_ERR_BAD_CONFIG',
    );
  assert.throws(
    () => topK(p, 1, ['only one']),
    (e) => e instanceof ModelpipeError && /1 labels for 2 classes/.test(e.message),
  );
});

test('classify splits a batched output; the formatter prints exactly "image i is class n: label"', () => {
  const out = new Float32Array([0.1, 0.9, 0.0, 0.7, 0.2, 0.1]); // [2, 3]
  const labels = ['tench, Tinca tinca', 'coffee mug', 'hummingbird'];
  const preds = classify(out, 2, 1, labels);
  assert.deepEqual(
    preds.map((p) => p[0]!.index),
    [1, 0],
  );
  assert.equal(formatPrediction(0, preds[0]![0]!), 'image 0 is class 1: coffee mug');
  assert.equal(formatPredictions(preds), 'image 0 is class 1: coffee mug\nimage 1 is class 0: tench, Tinca tinca');
  assert.equal(formatPredictions(preds, [3, 7]), 'image 3 is class 1: coffee mug\nimage 7 is class 0: tench, Tinca tinca');
  assert.throws(
    () => classify(out, 4, 1),
    (e) => e instanceof ModelpipeError && /does not split into 4 images/.test(e.message),
  );
});
