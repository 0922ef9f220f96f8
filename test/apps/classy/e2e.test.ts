import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { downloadAll, downloadAllSettled } from '../../../src/apps/classy/download.js';
import { classify, formatPredictions, loadLabels } from '../../../src/vision/labels.js';
import { preprocessImages, preprocessImagesSettled } from '../../../src/vision/preprocess.js';
import { needShared, sharedPath } from '../../helpers/shared.js';
import { type ImageServer, startImageServer } from './image-server.js';

/**
 * Classy end to end, in process: loopback image server → downloadAll → squeezenet
 * preprocessing → the real SqueezeNet in onnxruntime-node → labels.
 */
const IMAGES = ['mug227.png', 'hummingbird.jpg', 'dog.jpg', 'fish.png'];
const skip = needShared('models/squeezenet1.1.onnx', 'models/imagenet-labels.txt', ...IMAGES.map((n) => `images/${n}`));

describe('classy end to end with SqueezeNet', { skip }, () => {
  let srv: ImageServer;
  let session: InferenceSession;
  let labels: string[];
  before(async () => {
    srv = await startImageServer();
    session = await InferenceSession.create(sharedPath('models/squeezenet1.1.onnx'));
    labels = await loadLabels(sharedPath('models/imagenet-labels.txt'));
  });
  after(async () => {
    await session?.release();
    await srv?.close();
  });

  async function run(input: Float32Array, dims: readonly number[]): Promise<Float32Array> {
    const out = await session.run({ data_0: new OrtTensor('float32', input, dims) });
    const probs = out.softmaxout_1;
    assert.ok(probs !== undefined, 'model has no softmaxout_1 output');
    assert.deepEqual(probs.dims, [dims[0], 1000, 1, 1]);
    return probs.data as Float32Array;
  }

  test('the four shared images classify as 504, 94, 207, 0', async () => {
    const bytes = await downloadAll(
      IMAGES.map((n) => `${srv.base}/images/${n}`),
      { allowAddresses: ['127.0.0.1'] },
    );
    const batch = await preprocessImages(bytes, 'squeezenet');
    assert.deepEqual(batch.shape, [4, 3, 224, 224]);
    const preds = classify(await run(batch.data as Float32Array, batch.shape), 4, 1, labels);
    assert.deepEqual(
      preds.map((p) => p[0]!.index),
      [504, 94, 207, 0],
    );
    assert.equal(
      formatPredictions(preds),
      [
        'image 0 is class 504: coffee mug',
        'image 1 is class 94: hummingbird',
        'image 2 is class 207: golden retriever',
        'image 3 is class 0: tench, Tinca tinca',
      ].join('\n'),
    );
    assert.ok(preds.every((p) => p[0]!.probability > 0.2 && p[0]!.probability <= 1));
  });

  test('keep-going: failed downloads and decodes are reported, the rest still classify under their own index', async () => {
    const urls = [`${srv.base}/images/dog.jpg`, `${srv.base}/missing.png`, `${srv.base}/images/mug227.png`];
    const downloads = await downloadAllSettled(urls, { allowAddresses: ['127.0.0.1'] });
    const got = downloads.flatMap((d, i) => (d.ok ? [{ i, bytes: d.bytes }] : []));
    assert.deepEqual(
      got.map((g) => g.i),
      [0, 2],
    );
    // A corrupt image joins the batch too, as input 2 of the preprocessing step.
    const pre = await preprocessImagesSettled(
      [...got.map((g) => g.bytes), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3])],
      'squeezenet',
    );
    assert.deepEqual(pre.rows, [0, 1]);
    assert.ok(!pre.results[2]!.ok && pre.results[2]!.error.code === 'MP_ERR_IMAGE_DECODE');
    const t = pre.tensor!;
    const preds = classify(await run(t.data as Float32Array, t.shape), t.shape[0]!, 1, labels);
    const urlIndex = pre.rows.map((r) => got[r]!.i);
    assert.equal(formatPredictions(preds, urlIndex), 'image 0 is class 207: golden retriever\nimage 2 is class 504: coffee mug');
  });
});
