import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Engine } from '../../src/core/engine.js';
import { ModelSlot, ModelSlots } from '../../src/core/model-slot.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { Metrics } from '../../src/observe/metrics.js';
import { Tensor } from '../../src/tensor/index.js';

const spec = { name: 'x', dtype: 'float32' as const, shape: [-1] };

/** A model that answers `value` once `gate` opens, and records when it is closed. */
function gated(value: number, gate: Promise<void>, events: string[], closeError?: Error) {
  const m = new FunctionModel(
    async () => {
      await gate;
      return new Tensor('float32', [1], Float32Array.of(value));
    },
    { name: 'm', inputs: [spec], outputs: [{ ...spec, name: 'y' }] },
  );
  m.close = async () => {
    events.push(`close ${value}`);
    if (closeError) throw closeError;
  };
  return m;
}

const call = () => ({ inputNames: [], inputs: [new Tensor('float32', [1], Float32Array.of(0))], outputNames: [], config: '' });
const answer = async (p: ReturnType<Engine['infer']>) => ((await p).outputs[0] as Tensor).data[0];

describe('model slots: the one hot-swap mechanism', () => {
  it('swap: in-flight work finishes on the old model, new work goes to the new one, then the old one closes', async () => {
    const engine = new Engine({ metrics: new Metrics({ defaultMetrics: false }) });
    const slot = new ModelSlot<string>(new ModelSlots(engine), 'm');
    const events: string[] = [];
    let open: () => void = () => {};
    const gate = new Promise<void>((r) => {
      open = r;
    });
    await slot.swap(gated(1, gate, events), 'v1');
    const inFlight = answer(engine.infer('m', call(), 'test'));
    const swapping = slot.swap(gated(2, Promise.resolve(), events), 'v2');
    assert.equal(slot.current?.tag, 'v2');
    assert.equal(await answer(engine.infer('m', call(), 'test')), 2);
    assert.deepEqual(events, [], 'the old model stays open while a request runs on it');
    open();
    assert.equal(await inFlight, 1);
    await swapping;
    assert.deepEqual(events, ['close 1']);
    assert.deepEqual(engine.names(), [slot.current?.key]);
    await slot.clear();
    assert.equal(engine.has('m'), false);
    assert.deepEqual(events, ['close 1', 'close 2']);
  });

  it('a retired model that fails to close is reported, and the swap still succeeds', async () => {
    const engine = new Engine({ metrics: new Metrics({ defaultMetrics: false }) });
    const slots = new ModelSlots(engine);
    const slot = new ModelSlot(slots, 'm');
    const events: string[] = [];
    await slot.swap(gated(1, Promise.resolve(), events, new Error('worker would not stop')), undefined);
    await slot.swap(gated(2, Promise.resolve(), events), undefined);
    assert.equal(await answer(engine.infer('m', call(), 'test')), 2);
    assert.equal(slots.failures.length, 1);
    assert.match(slots.failures[0]?.message ?? '', /worker would not stop/);
    assert.match(slots.failures[0]?.key ?? '', /^m#1$/);
  });
});
