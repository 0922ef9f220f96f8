import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { multiRemoteRaw, remoteRaw } from '../../src/client/graphpipe-client.js';
import { Engine } from '../../src/core/engine.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { OnnxModel } from '../../src/models/onnx/onnx-model.js';
import { serveModel } from '../../src/server/serve.js';
import { Tensor, concat, fromNested } from '../../src/tensor/index.js';
import { squeezenetInput } from '../helpers/images.js';
import { needShared, sharedPath } from '../helpers/shared.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const batching = (maxBatchSize: number, maxQueueDelayUs = 20_000) => ({
  batching: { maxBatchSize, maxQueueDelayUs, preferredBatchSizes: [] },
});

/** A deterministic model that records every batch it is given. */
function recorder(opts: { delayMs?: number; instances?: number } = {}) {
  const batches: { rows: number; shape: readonly number[]; config: string }[] = [];
  const model = new FunctionModel(
    async (inputs, config) => {
      const x = inputs.x as Tensor;
      batches.push({ rows: x.shape[0] as number, shape: x.shape, config });
      if (opts.delayMs) await sleep(opts.delayMs);
      // Row-independent (as a batchable model must be): depends on the column, not the row.
      const out = Float32Array.from(x.data as Float32Array, (v, i) => v * 3 + (i % (x.shape[1] as number)));
      return { y: new Tensor('float32', x.shape, out) };
    },
    {
      name: 'rec',
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1, -1] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1, -1] }],
      instances: opts.instances ?? 1,
    },
  );
  return { model, batches };
}

const call = (x: Tensor, config = '') => ({ inputNames: ['x'], inputs: [x], outputNames: ['y'], config });
const rowsOf = (n: number, width: number, seed: number) =>
  new Tensor(
    'float32',
    [n, width],
    Float32Array.from({ length: n * width }, (_, i) => seed * 100 + i),
  );

describe('dynamic batching', () => {
  test('concurrent requests are merged and each gets exactly its own rows', async () => {
    const { model, batches } = recorder({ delayMs: 20 });
    const engine = new Engine();
    engine.add('rec', model, batching(16));
    const inputs = Array.from({ length: 24 }, (_, i) => rowsOf(1 + (i % 3), 4, i));
    const outs = await Promise.all(inputs.map((x) => engine.infer('rec', call(x), 'test')));
    // Unbatched reference: the same model run on each request alone.
    for (let i = 0; i < inputs.length; i++) {
      const alone = new Engine();
      alone.add('rec', recorder().model, { batching: undefined });
      const ref = await alone.infer('rec', call(inputs[i] as Tensor), 'test');
      assert.deepEqual(outs[i]?.outputs[0]?.shape, ref.outputs[0]?.shape);
      assert.deepEqual(
        Array.from(outs[i]?.outputs[0]?.data as Float32Array),
        Array.from(ref.outputs[0]?.data as Float32Array),
        `request ${i}`,
      );
    }
    assert.ok(batches.length < inputs.length, `expected merged executions, got ${batches.length} for ${inputs.length} requests`);
    assert.ok(batches.every((b) => b.rows <= 16));
    const m = await engine.metrics.text();
    assert.match(m, /modelpipe_batch_size_count\{model="rec"\} (\d+)/);
    assert.match(m, new RegExp(`modelpipe_model_executions_total\\{model="rec"\\} ${batches.length}`));
  });

  test('requests with different shapes or configs are never mixed', async () => {
    const { model, batches } = recorder({ delayMs: 10 });
    const engine = new Engine();
    engine.add('rec', model, batching(32));
    await Promise.all([
      ...Array.from({ length: 6 }, (_, i) => engine.infer('rec', call(rowsOf(1, 2, i)), 'test')),
      ...Array.from({ length: 6 }, (_, i) => engine.infer('rec', call(rowsOf(1, 3, i)), 'test')),
      ...Array.from({ length: 6 }, (_, i) => engine.infer('rec', call(rowsOf(1, 2, i), 'other'), 'test')),
    ]);
    const kinds = new Set(batches.map((b) => `${b.shape[1]}|${b.config}`));
    assert.equal(kinds.size, 3);
    assert.equal(
      batches.reduce((n, b) => n + b.rows, 0),
      18,
    );
    assert.ok(batches.length <= 9, `expected merging within each kind, got ${batches.length} executions`);
  });

  test('a request larger than max_batch_size runs alone instead of failing', async () => {
    const { model, batches } = recorder();
    const engine = new Engine();
    engine.add('rec', model, batching(4));
    const out = await engine.infer('rec', call(rowsOf(10, 2, 1)), 'test');
    assert.deepEqual(out.outputs[0]?.shape, [10, 2]);
    assert.deepEqual(
      batches.map((b) => b.rows),
      [10],
    );
  });

  test('a request whose timeout expires while queued is dropped, never run', async () => {
    const { model, batches } = recorder({ delayMs: 200 });
    const engine = new Engine();
    engine.add('rec', model, { batching: undefined });
    const first = engine.infer('rec', call(rowsOf(1, 2, 1)), 'test');
    await sleep(20);
    await assert.rejects(
      engine.infer('rec', { ...call(rowsOf(1, 2, 2)), timeoutMs: 50 }, 'test'),
      (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_TIMEOUT',
    );
    await first;
    await sleep(250);
    assert.equal(batches.length, 1);
  });

  test('higher priority requests leave the queue first', async () => {
    const { model, batches } = recorder({ delayMs: 30 });
    const engine = new Engine();
    engine.add('rec', model, { batching: undefined });
    const p = [engine.infer('rec', call(rowsOf(1, 2, 0), 'first'), 'test')];
    await sleep(5);
    p.push(engine.infer('rec', call(rowsOf(1, 2, 0), 'low'), 'test'));
    p.push(engine.infer('rec', { ...call(rowsOf(1, 2, 0), 'high'), priority: 5 }, 'test'));
    await Promise.all(p);
    assert.deepEqual(
      batches.map((b) => b.config),
      ['first', 'high', 'low'],
    );
  });

  test('several instances take batches concurrently', async () => {
    const { model, batches } = recorder({ delayMs: 100, instances: 2 });
    const engine = new Engine();
    engine.add('rec', model, batching(4, 1000));
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 8 }, (_, i) => engine.infer('rec', call(rowsOf(1, 2, i)), 'test')));
    const ms = performance.now() - t0;
    assert.equal(batches.length, 2);
    assert.ok(ms < 190, `two batches of 100 ms on two instances should overlap, took ${ms.toFixed(0)} ms`);
  });
});

describe('dynamic batching on real models', {
  skip: needShared('models/squeezenet1.1.onnx', 'models/mnist.onnx', 'images/mug227.png'),
}, () => {
  test('squeezenet: batched results equal unbatched results row by row', async () => {
    const files = ['mug227.png', 'hummingbird.jpg', 'dog.jpg', 'fish.png'];
    const imgs = await Promise.all(files.map((f) => squeezenetInput(sharedPath(`images/${f}`))));
    const plain = await serveModel(await OnnxModel.load({ path: sharedPath('models/squeezenet1.1.onnx') }), {
      scheduler: { batching: undefined },
    });
    const batched = await serveModel(await OnnxModel.load({ path: sharedPath('models/squeezenet1.1.onnx') }), {
      scheduler: batching(8, 50_000),
    });
    try {
      const ref: Tensor[] = [];
      for (const x of imgs) ref.push(await remoteRaw(plain.url, x));
      const got = await Promise.all(imgs.map((x) => remoteRaw(batched.url, x)));
      const m = await fetch(`${batched.url}/metrics`).then((r) => r.text());
      const execs = Number(/modelpipe_model_executions_total\{model="squeezenet1.1"\} (\d+)/.exec(m)?.[1]);
      assert.ok(execs < imgs.length, `expected merged executions, got ${execs}`);
      got.forEach((g, i) => {
        const a = g.data as Float32Array;
        const b = (ref[i] as Tensor).data as Float32Array;
        let maxDiff = 0;
        for (let k = 0; k < a.length; k++) maxDiff = Math.max(maxDiff, Math.abs((a[k] as number) - (b[k] as number)));
        // onnxruntime may pick different kernels per batch size: equal up to float rounding.
        assert.ok(maxDiff < 1e-5, `row ${i} differs by ${maxDiff}`);
      });
    } finally {
      await plain.close();
      await batched.close();
    }
  });

  test('mnist (fixed batch 1) is never merged, even with batching asked for', async () => {
    const s = await serveModel(await OnnxModel.load({ path: sharedPath('models/mnist.onnx') }), { scheduler: batching(8, 50_000) });
    try {
      const outs = await Promise.all(Array.from({ length: 6 }, () => multiRemoteRaw(s.url, [Tensor.zeros('float32', [1, 1, 28, 28])])));
      assert.ok(outs.every((o) => o[0]?.shape[0] === 1));
      const m = await fetch(`${s.url}/metrics`).then((r) => r.text());
      assert.match(m, /modelpipe_model_executions_total\{model="mnist"\} 6/);
    } finally {
      await s.close();
    }
  });
});

test('concat of decoded rows matches fromNested (sanity of the helper used above)', () => {
  const t = concat([fromNested([[1, 2]], 'float32'), fromNested([[3, 4]], 'float32')]);
  assert.deepEqual(Array.from(t.data as Float32Array), [1, 2, 3, 4]);
});
