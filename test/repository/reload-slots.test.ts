import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { Engine } from '../../src/core/engine.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { Metrics } from '../../src/observe/metrics.js';
import { type ModelLoader, ModelRepository } from '../../src/repository/index.js';
import { Tensor } from '../../src/tensor/index.js';

/** A repository reload goes through core's model slots: the old entry's close failure is reported, not dropped. */
describe('repository reloads through the model slots', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelpipe-slots-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a reload whose old model fails to close still serves the new one, and reports the failure', async () => {
    mkdirSync(join(dir, 'm', '1'), { recursive: true });
    writeFileSync(join(dir, 'm', '1', 'model.onnx'), 'bytes the loader below ignores');
    let loads = 0;
    const loader: ModelLoader = async () => {
      const n = ++loads;
      const spec = { name: 'x', dtype: 'float32' as const, shape: [-1] };
      const m = new FunctionModel(async () => new Tensor('float32', [1], Float32Array.of(n)), {
        name: 'm',
        inputs: [spec],
        outputs: [{ ...spec, name: 'y' }],
      });
      if (n === 1) {
        m.close = async () => {
          throw new Error('worker would not stop');
        };
      }
      return m;
    };
    const lines: string[] = [];
    const logger = pino({ level: 'error' }, { write: (l: string) => void lines.push(l) });
    const engine = new Engine({ metrics: new Metrics({ defaultMetrics: false }) });
    const repo = new ModelRepository({ dir, engine, loader, logger });
    const ask = async () => {
      const r = await engine.infer('m', { inputNames: [], inputs: [Tensor.zeros('float32', [1])], outputNames: [], config: '' }, 'test');
      return (r.outputs[0] as Tensor).data[0];
    };
    await repo.load('m');
    assert.equal(await ask(), 1);
    await repo.load('m'); // a reload: resolves although closing the old model failed
    assert.equal(await ask(), 2);
    assert.deepEqual(engine.names(), ['m@1#2']);
    assert.equal(repo.slots.failures.length, 1);
    assert.match(repo.slots.failures[0]?.message ?? '', /worker would not stop/);
    assert.ok(lines.some((l) => /unloading a retired model failed/.test(l) && /m@1#1/.test(l)));
  });
});
