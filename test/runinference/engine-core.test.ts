import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { Engine } from '../../src/core/engine.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { OnnxModel } from '../../src/models/onnx/onnx-model.js';
import { Metrics } from '../../src/observe/metrics.js';
import { encodeRequest } from '../../src/protocol/graphpipe/index.js';
import { type DeadLetter, Flow, onnxHandler, servedModelHandler } from '../../src/runinference/index.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import { Tensor } from '../../src/tensor/index.js';
import { needShared, sharedPath } from '../helpers/shared.js';

/**
 * RunInference's local models run on the serving core: the same validation (codes),
 * the same batch statistics, and the same hot-swap mechanism as a repository reload.
 */
const skip = needShared('models/squeezenet1.1.onnx', 'models/mnist.onnx');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SQUEEZENET_INPUT = [1, 3, 224, 224];
const size = SQUEEZENET_INPUT.reduce((a, b) => a * b, 1);

describe('RunInference on the serving engine', { skip }, () => {
  let srv: RunningServer;
  let dir: string;
  before(async () => {
    if (skip) return;
    srv = await serveModel(await OnnxModel.load({ path: sharedPath('models/squeezenet1.1.onnx'), name: 'squeezenet' }));
    dir = await mkdtemp(join(tmpdir(), 'runinf-engine-'));
  });
  after(async () => {
    await srv?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a float64 input is MP_ERR_INPUT_DTYPE in a pipeline, over OIP REST and over GraphPipe alike', async () => {
    const x = new Tensor('float64', SQUEEZENET_INPUT, new Float64Array(size));
    const onnx = onnxHandler({
      model: sharedPath('models/squeezenet1.1.onnx'),
      engine: new Engine({ metrics: new Metrics({ defaultMetrics: false }) }),
    });
    const dead: DeadLetter[] = [];
    const out = await Flow.from([x])
      .runInference(onnx, { deadLetter: (d) => void dead.push(d) })
      .collect();
    await onnx.unload();
    assert.equal(out.length, 0);
    assert.equal(dead[0]?.stage, 'inference');

    const rest = await request(`${srv.url}/v2/models/squeezenet/infer`, {
      method: 'POST',
      body: JSON.stringify({ inputs: [{ name: 'data_0', datatype: 'FP64', shape: SQUEEZENET_INPUT, data: new Array(size).fill(0) }] }),
    });
    await rest.body.dump();
    const gp = await request(`${srv.url}/`, {
      method: 'POST',
      body: encodeRequest({ type: 'infer', config: '', inputNames: ['data_0'], inputs: [x], outputNames: [] }),
    });
    await gp.body.dump();
    assert.deepEqual(
      [dead[0]?.error.code, rest.headers['x-modelpipe-error'], gp.headers['x-modelpipe-error']],
      ['MP_ERR_INPUT_DTYPE', 'MP_ERR_INPUT_DTYPE', 'MP_ERR_INPUT_DTYPE'],
    );
    assert.equal(rest.statusCode, 400);
  });

  it("the flow's batches are the engine's executions: its per-batch-size statistics show them", async () => {
    const engine = new Engine({ metrics: new Metrics({ defaultMetrics: false }) });
    const onnx = onnxHandler({ model: sharedPath('models/squeezenet1.1.onnx'), engine });
    const xs = Array.from({ length: 10 }, () => new Tensor('float32', SQUEEZENET_INPUT, new Float32Array(size)));
    // A wait far longer than the run: batches close on size (and at the end), never on time.
    const report = await Flow.from(xs).runInference(onnx, { maxBatchSize: 4, maxWaitMs: 600_000, name: 'sq' }).run();
    const stats = engine.statistics(onnx.entry as string);
    assert.equal(stats.inferenceCount, 10);
    assert.equal(stats.executionCount, 3);
    assert.deepEqual(
      stats.batches.map((b) => [b.batchSize, b.computeInfer.count]),
      [
        [2, 1],
        [4, 2],
      ],
    );
    assert.equal(report.steps[0]?.batches, 3);
    // Beam's names sit in the engine's own registry, beside its modelpipe_* series.
    const text = await engine.metrics.registry.metrics();
    assert.match(text, /inference_request_batch_size_count\{step="sq",model_id="squeezenet1\.1\.onnx@[0-9a-f]{12}"\} 3/);
    assert.match(text, /modelpipe_model_executions_total\{model="[^"]+#\d+"\} 3/);
    await onnx.unload();
    assert.deepEqual(engine.names(), [], 'the last handler gone, its entry is retired');
  });

  it('a model file replaced under a running stream switches through the model slots: none fails', async () => {
    const path = join(dir, 'mnist-live.onnx');
    await copyFile(sharedPath('models/mnist.onnx'), path);
    const engine = new Engine({ metrics: new Metrics({ defaultMetrics: false }) });
    const onnx = onnxHandler({ model: path, engine, watch: { intervalMs: 20 } });
    await onnx.load();
    const entry = onnx.entry as string;
    const firstKey = engine.resolve(entry);
    const x = new Tensor('float32', [1, 1, 28, 28], new Float32Array(784).fill(100));
    let replaced = -1;
    let swapped = -1;
    const source = (async function* () {
      for (let i = 0; ; i++) {
        if (i === 10) {
          // Same graph, different producer version: new bytes, a new model id.
          const bytes = await readFile(sharedPath('models/mnist.onnx'));
          bytes.write('2.5.2', bytes.indexOf(Buffer.from('2.5.1')));
          await writeFile(`${path}.tmp`, bytes);
          await rename(`${path}.tmp`, path);
          replaced = i;
        }
        if (swapped < 0 && onnx.refreshes > 0) swapped = i;
        if (swapped >= 0 && i >= swapped + 6) return;
        assert.ok(i < 5000, 'the watcher never swapped the model in');
        await sleep(5);
        yield x;
      }
    })();
    const dead: DeadLetter[] = [];
    const out = await Flow.from(source)
      .runInference(onnx, { maxBatchSize: 3, deadLetter: (d) => void dead.push(d) })
      .collect();
    assert.equal(dead.length, 0, JSON.stringify(dead));
    assert.ok(replaced === 10 && swapped > replaced);
    const ids = out.map((r) => r.modelId);
    const distinct = [...new Set(ids)];
    assert.equal(distinct.length, 2, `model ids ${distinct}`);
    // One switch: old results, then new ones only; the examples after the swap ran on the new model.
    const firstNew = ids.indexOf(distinct[1] as string);
    assert.ok(firstNew >= 10 && ids.slice(firstNew).every((id) => id === distinct[1]));
    // The same mechanism as a repository reload: a new entry, the name re-pointed, the old entry drained and removed.
    const newKey = engine.resolve(entry);
    assert.notEqual(newKey, firstKey);
    assert.deepEqual(engine.names(), [newKey]);
    assert.equal(onnx.modelId, distinct[1]);
    await onnx.unload();
  });
});

describe('RunInference with a TypeScript function model on the engine', () => {
  it('a FunctionModel runs batched through the engine, with its validation and statistics', async () => {
    const engine = new Engine({ metrics: new Metrics({ defaultMetrics: false }) });
    const spec = { name: 'x', dtype: 'float32' as const, shape: [-1, 2] };
    const twice = (x: Tensor) =>
      new Tensor(
        'float32',
        x.shape,
        (x.data as Float32Array).map((v) => v * 2),
      );
    const double = new FunctionModel(async (inputs) => ({ y: twice(inputs.x as Tensor) }), {
      name: 'double',
      inputs: [spec],
      outputs: [{ ...spec, name: 'y' }],
    });
    const h = servedModelHandler(double, { engine });
    const xs = [1, 2, 3, 4, 5].map((k) => new Tensor('float32', [1, 2], Float32Array.of(k, -k)));
    const bad = new Tensor('int32', [1, 2], Int32Array.of(1, 2));
    const dead: DeadLetter[] = [];
    const out = await Flow.from([...xs, bad])
      .runInference(h, { maxBatchSize: 2, maxWaitMs: 600_000, deadLetter: (d) => void dead.push(d) })
      .collect();
    assert.deepEqual(
      out.map((r) => [...((r.inference.y as Tensor).data as Float32Array)]),
      [1, 2, 3, 4, 5].map((k) => [2 * k, -2 * k]),
    );
    assert.equal(out[0]?.modelId, 'double@1');
    assert.deepEqual(
      dead.map((d) => d.error.code),
      ['MP_ERR_INPUT_DTYPE'],
    );
    const stats = engine.statistics(h.entry as string);
    assert.deepEqual(
      stats.batches.map((b) => [b.batchSize, b.computeInfer.count]),
      [
        [1, 1],
        [2, 2],
      ],
    );
    await h.unload();
    assert.equal(engine.has('double'), false);
  });
});
