import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { RowCache, fileIdentity } from '../../src/cache/row-cache.js';
import { Engine } from '../../src/core/engine.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { OnnxModel } from '../../src/models/onnx/onnx-model.js';
import { Tensor, fromNested, toNested } from '../../src/tensor/index.js';
import { squeezenetInput } from '../helpers/images.js';
import { needShared, sharedPath } from '../helpers/shared.js';

/** A model that counts the rows it computes; output row = input row × 10 + config length. */
function counting() {
  const seen: string[] = [];
  const model = new FunctionModel(
    (inputs, config) => {
      const x = inputs.x as Tensor;
      const tag = inputs.tag as Tensor;
      for (const s of tag.strings()) seen.push(s);
      return {
        y: new Tensor(
          'float32',
          x.shape,
          Float32Array.from(x.data as Float32Array, (v) => v * 10 + config.length),
        ),
      };
    },
    {
      name: 'count',
      inputs: [
        { name: 'x', dtype: 'float32', shape: [-1, 2] },
        { name: 'tag', dtype: 'string', shape: [-1] },
      ],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2] }],
    },
  );
  return { model, seen };
}

const req = (rows: number[][], tags: string[], config = '') => ({
  inputNames: ['x', 'tag'],
  inputs: [fromNested(rows, 'float32'), Tensor.fromStrings(tags)],
  outputNames: ['y'],
  config,
});

describe('row-level result cache', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'modelpipe-cache-'));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('only missing rows are computed; hits and fresh rows come back in order', async () => {
    const cache = RowCache.open({ dir: tmp() });
    const { model, seen } = counting();
    const engine = new Engine();
    engine.add('count', model, { runThrough: cache.runThrough('count', 'id-1', engine.metrics) });
    const a = await engine.infer(
      'count',
      req(
        [
          [1, 2],
          [3, 4],
        ],
        ['a', 'b'],
      ),
      'test',
    );
    assert.deepEqual(toNested(a.outputs[0] as Tensor), [
      [10, 20],
      [30, 40],
    ]);
    await cache.flush();
    const b = await engine.infer(
      'count',
      req(
        [
          [5, 6],
          [3, 4],
          [1, 2],
        ],
        ['c', 'b', 'a'],
      ),
      'test',
    );
    assert.deepEqual(toNested(b.outputs[0] as Tensor), [
      [50, 60],
      [30, 40],
      [10, 20],
    ]);
    assert.deepEqual(seen, ['a', 'b', 'c'], 'rows b and a must come from the cache');
    const m = await engine.metrics.text();
    assert.match(m, /modelpipe_cache_rows_total\{model="count",result="hit"\} 2/);
    assert.match(m, /modelpipe_cache_rows_total\{model="count",result="miss"\} 3/);
    await cache.close();
  });

  test('config, string bytes per row and output names are part of the key', async () => {
    const cache = RowCache.open({ dir: tmp() });
    const { model, seen } = counting();
    const engine = new Engine();
    engine.add('count', model, { runThrough: cache.runThrough('count', 'id-1', engine.metrics) });
    await engine.infer(
      'count',
      req(
        [
          [1, 1],
          [1, 1],
        ],
        ['ab', 'c'],
      ),
      'test',
    );
    await cache.flush();
    const withConfig = await engine.infer('count', req([[1, 1]], ['ab'], 'xyz'), 'test');
    assert.deepEqual(toNested(withConfig.outputs[0] as Tensor), [[13, 13]], 'a different config must not hit');
    await engine.infer(
      'count',
      req(
        [
          [1, 1],
          [1, 1],
        ],
        ['a', 'bc'],
      ),
      'test',
    );
    assert.deepEqual(seen, ['ab', 'c', 'ab', 'a', 'bc'], 'string rows hash per row, length-prefixed');
    await cache.close();
  });

  test('persists across restarts, and a new model identity invalidates', async () => {
    const dir = tmp();
    let cache = RowCache.open({ dir });
    let c = counting();
    let engine = new Engine();
    engine.add('count', c.model, { runThrough: cache.runThrough('count', 'id-1', engine.metrics) });
    await engine.infer('count', req([[1, 2]], ['a']), 'test');
    await cache.close();

    cache = RowCache.open({ dir });
    c = counting();
    engine = new Engine();
    engine.add('count', c.model, { runThrough: cache.runThrough('count', 'id-1', engine.metrics) });
    await engine.infer('count', req([[1, 2]], ['a']), 'test');
    assert.deepEqual(c.seen, [], 'reopened cache answers from disk');
    await cache.close();

    cache = RowCache.open({ dir });
    c = counting();
    engine = new Engine();
    engine.add('count', c.model, { runThrough: cache.runThrough('count', 'id-2', engine.metrics) });
    await engine.infer('count', req([[1, 2]], ['a']), 'test');
    assert.deepEqual(c.seen, ['a'], 'a changed model file must not hit old rows');
    await cache.close();
  });

  test('stays within its byte budget by evicting the oldest rows', async () => {
    const cache = RowCache.open({ dir: tmp(), maxBytes: 4096 });
    const { model, seen } = counting();
    const engine = new Engine();
    engine.add('count', model, { runThrough: cache.runThrough('count', 'id', engine.metrics) });
    for (let i = 0; i < 60; i++) {
      await engine.infer('count', req([[i, i]], [`r${i}`]), 'test');
      await cache.flush();
    }
    seen.length = 0;
    await engine.infer('count', req([[59, 59]], ['r59']), 'test');
    assert.deepEqual(seen, [], 'the newest row is still cached');
    await engine.infer('count', req([[0, 0]], ['r0']), 'test');
    assert.deepEqual(seen, ['r0'], 'the oldest row was evicted');
    await cache.close();
  });

  test('squeezenet: a cached row equals a fresh computation', {
    skip: needShared('models/squeezenet1.1.onnx', 'images/mug227.png'),
  }, async () => {
    const path = sharedPath('models/squeezenet1.1.onnx');
    const cache = RowCache.open({ dir: tmp() });
    const model = await OnnxModel.load({ path });
    const engine = new Engine();
    engine.add('sq', model, { runThrough: cache.runThrough('sq', await fileIdentity(path), engine.metrics) });
    const x = await squeezenetInput(sharedPath('images/mug227.png'));
    const call = () => ({ inputNames: [], inputs: [x], outputNames: [], config: '' });
    const fresh = await engine.infer('sq', call(), 'test');
    await cache.flush();
    const cached = await engine.infer('sq', call(), 'test');
    assert.equal(cached.timings.computeMs, 0);
    assert.deepEqual(Array.from(cached.outputs[0]?.data as Float32Array), Array.from(fresh.outputs[0]?.data as Float32Array));
    await engine.shutdown();
    await cache.close();
  });
});
