import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { metadata, multiRemoteRaw, remoteRaw } from '../../src/client/graphpipe-client.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { OnnxModel } from '../../src/models/onnx/onnx-model.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import { Tensor, concat } from '../../src/tensor/index.js';
import { argmax, squeezenetInput } from '../helpers/images.js';
import { needShared, sharedPath } from '../helpers/shared.js';

const skip = needShared('models/squeezenet1.1.onnx', 'models/mnist.onnx', 'models/candy.onnx', 'images/mug227.png');

describe('ONNX models served over GraphPipe', { skip }, () => {
  let squeeze: RunningServer;
  let mnist: RunningServer;
  before(async () => {
    squeeze = await serveModel(await OnnxModel.load({ path: sharedPath('models/squeezenet1.1.onnx') }));
    mnist = await serveModel(await OnnxModel.load({ path: sharedPath('models/mnist.onnx') }));
  });
  after(async () => {
    await squeeze?.close();
    await mnist?.close();
  });

  test('metadata comes from the session, with -1 for the free batch dimension', async () => {
    const md = await metadata(squeeze.url);
    assert.equal(md.name, 'squeezenet1.1');
    assert.deepEqual(md.inputs, [{ name: 'data_0', description: '', shape: [-1, 3, 224, 224], type: 'float32' }]);
    assert.deepEqual(
      md.outputs.map((o) => [o.name, o.shape]),
      [['softmaxout_1', [-1, 1000, 1, 1]]],
    );
    const res = await fetch(squeeze.url);
    assert.equal(res.status, 200);
    const json = (await res.json()) as { name: string; inputs: { name: string }[] };
    assert.equal(json.inputs[0]?.name, 'data_0');
  });

  test('squeezenet classifies the mug as class 504 through the server', async () => {
    const out = await remoteRaw(squeeze.url, await squeezenetInput(sharedPath('images/mug227.png')));
    assert.deepEqual(out.shape, [1, 1000, 1, 1]);
    assert.equal(argmax(out.data as Float32Array), 504);
  });

  test('a batch of four images gives one class per row', async () => {
    const files = ['mug227.png', 'hummingbird.jpg', 'dog.jpg', 'fish.png'];
    const batch = concat(await Promise.all(files.map((f) => squeezenetInput(sharedPath(`images/${f}`)))));
    const [out] = await multiRemoteRaw(squeeze.url, [batch], { inputNames: ['data_0'], outputNames: ['softmaxout_1'] });
    const probs = out?.data as Float32Array;
    const classes = files.map((_, i) => argmax(probs.subarray(i * 1000, (i + 1) * 1000)));
    assert.deepEqual(classes, [504, 94, 207, 0]);
  });

  test('mnist (fixed batch 1): one digit works, a batch of two gets a clear shape error', async () => {
    const one = await remoteRaw(mnist.url, Tensor.zeros('float32', [1, 1, 28, 28]));
    assert.deepEqual(one.shape, [1, 10]);
    await assert.rejects(remoteRaw(mnist.url, Tensor.zeros('float32', [2, 1, 28, 28])), (e: unknown) => {
      assert.ok(e instanceof ModelpipeError);
      assert.equal(e.code, 'MP_ERR_INPUT_DIM');
      assert.equal(e.status, 400);
      assert.equal(e.url, mnist.url);
      assert.match(e.message, /Input3 dimension 0 must be 1, got 2/);
      return true;
    });
  });

  test('candy style transfer: large float tensors in and out', async () => {
    const candy = await serveModel(await OnnxModel.load({ path: sharedPath('models/candy.onnx') }));
    try {
      const input = new Float32Array(3 * 720 * 720);
      for (let i = 0; i < input.length; i++) input[i] = (i * 7919) % 256;
      const out = await remoteRaw(candy.url, new Tensor('float32', [1, 3, 720, 720], input));
      assert.deepEqual(out.shape, [1, 3, 720, 720]);
      const data = out.data as Float32Array;
      assert.ok(data.every(Number.isFinite));
      const min = data.reduce((a, b) => Math.min(a, b));
      const max = data.reduce((a, b) => Math.max(a, b));
      assert.ok(max - min > 10, `output should be an image, got range ${min}..${max}`);
    } finally {
      await candy.close();
    }
  });

  test('health answers quickly while the model is saturated', async () => {
    const batch = Tensor.zeros('float32', [32, 3, 224, 224]);
    const busy = Promise.all([remoteRaw(squeeze.url, batch), remoteRaw(squeeze.url, batch)]);
    await new Promise((r) => setTimeout(r, 30));
    const lat: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      const r = await fetch(`${squeeze.url}/health/live`);
      assert.equal(r.status, 200);
      await r.text();
      lat.push(performance.now() - t0);
    }
    await busy;
    lat.sort((a, b) => a - b);
    // Generous bound for a shared 2-core CI box; bench/server measures the real p99.
    assert.ok((lat[18] as number) < 100, `health p95 ${lat[18]} ms while the model runs`);
  });
});

test('--device cuda without the CUDA provider fails with a clear error', { skip: needShared('models/mnist.onnx') }, async () => {
  await assert.rejects(OnnxModel.load({ path: sharedPath('models/mnist.onnx'), device: 'cuda' }), (e: unknown) => {
    assert.ok(e instanceof ModelpipeError);
    assert.equal(e.code, 'MP_ERR_DEVICE_UNAVAILABLE');
    assert.match(e.message, /cuda/i);
    return true;
  });
});

test('closing an ONNX model lets in-flight runs finish, and idle workers do not hold the process', {
  skip: needShared('models/squeezenet1.1.onnx'),
}, async () => {
  const model = await OnnxModel.load({ path: sharedPath('models/squeezenet1.1.onnx') });
  const run = model.run({
    inputs: new Map([['data_0', Tensor.zeros('float32', [8, 3, 224, 224])]]),
    outputNames: ['softmaxout_1'],
    config: '',
    signal: new AbortController().signal,
    transferable: false,
  });
  await new Promise((r) => setTimeout(r, 5));
  await model.close();
  const [out] = await run;
  assert.deepEqual(out?.shape, [8, 1000, 1, 1]);
});
