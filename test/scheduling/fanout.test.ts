import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Engine } from '../../src/core/engine.js';
import { FunctionModel } from '../../src/models/function-model.js';
import type { Model, ModelMetadata, RunRequest } from '../../src/models/model.js';
import { OnnxModel } from '../../src/models/onnx/onnx-model.js';
import { DEFAULT_SCHEDULER } from '../../src/scheduling/options.js';
import { decodeRequest, encodeRequest } from '../../src/protocol/graphpipe/index.js';
import { Tensor, concat, largeBuffers } from '../../src/tensor/index.js';
import { argmax, squeezenetInput } from '../helpers/images.js';
import { needShared, sharedPath } from '../helpers/shared.js';

const WIDTH = 64 * 1024; // float32 elements per row: 256 KiB, the smallest part worth splitting
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A row-independent model with parallel instances that records the rows of every run. */
class Recording implements Model {
  readonly batchable = true;
  readonly fanout = true;
  readonly runs: number[] = [];
  active = 0;
  peak = 0;
  readonly metadata: ModelMetadata = {
    name: 'rec',
    version: '1',
    description: '',
    server: 'test',
    inputs: [{ name: 'x', dtype: 'float32', shape: [-1, WIDTH], description: '' }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2], description: '' }],
    defaultInputs: ['x'],
    defaultOutputs: ['y'],
  };
  constructor(readonly instances: number) {}
  async run(req: RunRequest): Promise<Tensor[]> {
    const x = req.inputs.get('x') as Tensor;
    const rows = x.shape[0] as number;
    this.runs.push(rows);
    this.active++;
    this.peak = Math.max(this.peak, this.active);
    await sleep(20);
    this.active--;
    const d = x.data as Float32Array;
    // Per row: its first element and its sum; depends on the row only.
    const out = new Float32Array(rows * 2);
    for (let r = 0; r < rows; r++) {
      out[r * 2] = d[r * WIDTH] as number;
      let s = 0;
      for (let i = 0; i < WIDTH; i++) s += d[r * WIDTH + i] as number;
      out[r * 2 + 1] = s;
    }
    return [new Tensor('float32', [rows, 2], out)];
  }
  async close(): Promise<void> {}
}

const rowsTensor = (n: number, seed: number) =>
  new Tensor(
    'float32',
    [n, WIDTH],
    Float32Array.from({ length: n * WIDTH }, (_, i) => seed * 1000 + Math.floor(i / WIDTH) + (i % 7)),
  );
const call = (x: Tensor) => ({ inputNames: ['x'], inputs: [x], outputNames: ['y'], config: '' });
const expected = (x: Tensor) => {
  const d = x.data as Float32Array;
  const rows = x.shape[0] as number;
  return Array.from({ length: rows }, (_, r) => {
    let s = 0;
    for (let i = 0; i < WIDTH; i++) s += d[r * WIDTH + i] as number;
    return [d[r * WIDTH], Math.fround(s)];
  }).flat();
};

describe('fan-out of one batch across idle instances', () => {
  test('a lone 5-row request on 3 idle instances runs as 2+2+1 in parallel, outputs in order', async () => {
    const model = new Recording(3);
    const engine = new Engine();
    engine.add('rec', model, { batching: undefined });
    const x = rowsTensor(5, 1);
    const out = await engine.infer('rec', call(x), 'test');
    assert.deepEqual(model.runs, [2, 2, 1]);
    assert.equal(model.peak, 3);
    assert.deepEqual(out.outputs[0]?.shape, [5, 2]);
    assert.deepEqual([...((out.outputs[0] as Tensor).data as Float32Array)], expected(x));
  });

  test('fanout: false runs the request whole', async () => {
    const model = new Recording(3);
    const engine = new Engine();
    engine.add('rec', model, { ...DEFAULT_SCHEDULER, batching: undefined, fanout: false });
    await engine.infer('rec', call(rowsTensor(5, 2)), 'test');
    assert.deepEqual(model.runs, [5]);
  });

  test('requests that find others waiting are not split, and small parts never are', async () => {
    const model = new Recording(2);
    const engine = new Engine();
    engine.add('rec', model, { batching: undefined });
    const xs = [rowsTensor(4, 1), rowsTensor(4, 2), rowsTensor(4, 3)];
    const outs = await Promise.all(xs.map((x) => engine.infer('rec', call(x), 'test')));
    // The first arrives to an empty queue and two idle instances: split 2+2. The
    // other two are dispatched while one another is still queued, or with only one
    // instance idle: each runs whole.
    assert.deepEqual(model.runs, [2, 2, 4, 4]);
    xs.forEach((x, i) => {
      const o = outs[i]?.outputs[0] as Tensor;
      assert.deepEqual([...(o.data as Float32Array)], expected(x));
    });
    // 4 rows of 64 KiB = 256 KiB in all: one part's worth, so it runs whole on 4 idle instances.
    const tiny = new Recording(4);
    const e2 = new Engine();
    e2.add('rec', tiny, { batching: undefined });
    await e2.infer('rec', call(rowsTensor(1, 1)), 'test');
    assert.deepEqual(tiny.runs, [1]);
  });

  test('function models are never split (their instances share one thread)', async () => {
    const rows: number[] = [];
    const fm = new FunctionModel(
      (inputs) => {
        const x = inputs.x as Tensor;
        rows.push(x.shape[0] as number);
        return { y: x };
      },
      {
        name: 'f',
        inputs: [{ name: 'x', dtype: 'float32', shape: [-1, WIDTH] }],
        outputs: [{ name: 'y', dtype: 'float32', shape: [-1, WIDTH] }],
        instances: 8,
      },
    );
    const engine = new Engine();
    engine.add('f', fm, { batching: undefined });
    await engine.infer('f', call(rowsTensor(6, 1)), 'test');
    assert.deepEqual(rows, [6]);
  });
});

describe('squeezenet on two single-threaded instances', { skip: needShared('models/squeezenet1.1.onnx', 'images/mug227.png') }, () => {
  let model: OnnxModel | undefined;
  after(async () => {
    await model?.close();
  });

  test('a batch of 4 split across both gives the same classes and scores as one run', async () => {
    model = await OnnxModel.load({ path: sharedPath('models/squeezenet1.1.onnx'), instances: 2 });
    const mug = await squeezenetInput(sharedPath('images/mug227.png'));
    const batch = concat([mug, mug, mug, mug]);
    const split = new Engine();
    split.add('sq', model, { batching: undefined });
    const whole = new Engine();
    whole.add('sq', model, { ...DEFAULT_SCHEDULER, batching: undefined, fanout: false });
    const a = await split.infer('sq', { inputNames: ['data_0'], inputs: [batch], outputNames: [], config: '' }, 'test');
    const b = await whole.infer('sq', { inputNames: ['data_0'], inputs: [batch], outputNames: [], config: '' }, 'test');
    const pa = a.outputs[0]?.data as Float32Array;
    const pb = b.outputs[0]?.data as Float32Array;
    assert.equal(pa.length, 4000);
    for (let r = 0; r < 4; r++) {
      assert.equal(argmax(pa.subarray(r * 1000, (r + 1) * 1000)), 504);
      for (let i = 0; i < 1000; i++) assert.ok(Math.abs((pa[r * 1000 + i] as number) - (pb[r * 1000 + i] as number)) < 1e-5);
    }
  });

  test('the worker hands large inputs back, and the next body of that size reuses them', async () => {
    const m = model as OnnxModel;
    const bytes = 3 * 224 * 224 * 4;
    const before = largeBuffers.hits;
    const input = new Tensor('float32', [1, 3, 224, 224], new Float32Array(largeBuffers.take(bytes)));
    await m.run({
      inputs: new Map([['data_0', input]]),
      outputNames: ['softmaxout_1'],
      config: '',
      signal: new AbortController().signal,
      transferable: true,
    });
    assert.equal(input.data.length, 0, 'the input left this thread');
    const again = largeBuffers.take(bytes);
    assert.equal(largeBuffers.hits, before + 1, 'recycled from the worker');
    assert.equal(again.byteLength, bytes);
  });
});

describe('recycling the bodies of merged requests', () => {
  test('a body that also holds a string input is left alone, so the strings survive the merge', async () => {
    const seen: string[][] = [];
    const model = new FunctionModel(
      (inputs) => {
        const s = inputs.s as Tensor;
        seen.push(s.strings());
        return { n: Tensor.fromStrings(s.strings().map((w) => `${w}!`)), first: inputs.x as Tensor };
      },
      {
        name: 'mixed',
        inputs: [
          { name: 'x', dtype: 'float32', shape: [-1, WIDTH] },
          { name: 's', dtype: 'string', shape: [-1] },
        ],
        outputs: [
          { name: 'n', dtype: 'string', shape: [-1] },
          { name: 'first', dtype: 'float32', shape: [-1, WIDTH] },
        ],
        instances: 1,
      },
    );
    const engine = new Engine();
    engine.add('mixed', model, { batching: { maxBatchSize: 8, maxQueueDelayUs: 50_000, preferredBatchSizes: [] } });
    // Each call decoded from its own GraphPipe body: x and the strings are views into it.
    const calls = [1, 2, 3].map((i) => {
      const body = encodeRequest({
        type: 'infer',
        config: '',
        inputNames: ['x', 's'],
        inputs: [rowsTensor(1, i), Tensor.fromStrings([`word${i}`])],
        outputNames: [],
      });
      const req = decodeRequest(Uint8Array.from(body));
      if (req.type !== 'infer') throw new Error('not an infer request');
      return { inputNames: ['x', 's'], inputs: req.inputs, outputNames: ['n', 'first'], config: '', transferable: true };
    });
    const outs = await Promise.all(calls.map((c) => engine.infer('mixed', c, 'test')));
    assert.deepEqual(seen, [['word1', 'word2', 'word3']], 'one merged batch with every string intact');
    outs.forEach((o, i) => {
      assert.deepEqual((o.outputs[0] as Tensor).strings(), [`word${i + 1}!`]);
    });
  });
});
