import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Engine } from '../../src/core/engine.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { OnnxModel } from '../../src/models/onnx/onnx-model.js';
import { Tensor } from '../../src/tensor/index.js';
import { needShared, sharedPath } from '../helpers/shared.js';

const SQUEEZENET = 'models/squeezenet1.1.onnx';
const skip = needShared(SQUEEZENET);

/** An ONNX run that outlives its timeout takes its worker with it: retired once the run returns, and replaced. */
describe('abandoned ONNX run', { skip }, () => {
  let model: OnnxModel;
  const engine = new Engine();
  before(async () => {
    model = await OnnxModel.load({ path: sharedPath(SQUEEZENET), name: 'sq', instances: 1 });
    engine.add('sq', model, { batching: undefined, fanout: false });
  });
  after(() => engine.shutdown());

  const images = (n: number) => Tensor.zeros('float32', [n, 3, 224, 224]);
  const call = (n: number, timeoutMs: number) => ({ inputNames: [], outputNames: [], inputs: [images(n)], config: '', timeoutMs });

  test('the worker is replaced, the model keeps serving, the stuck run clears', async () => {
    // 1 ms cannot hold 8 squeezenet images (hundreds of ms): the request times out while its run computes.
    await assert.rejects(
      engine.infer('sq', call(8, 1), 'test'),
      (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_TIMEOUT',
    );
    assert.equal(model.workersReplaced, 1);
    const out = await engine.infer('sq', call(1, 60_000), 'test');
    assert.deepEqual(out.outputs[0]?.shape, [1, 1000, 1, 1]);
    // The terminated worker's run fails once its thread has exited; bounded wait.
    for (let i = 0; i < 300 && engine.stuckRuns('sq') > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(engine.stuckRuns('sq'), 0);
    assert.equal(model.instances, 1);
  });
});
