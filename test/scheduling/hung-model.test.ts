import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { remote } from '../../src/client/graphpipe-client.js';
import { Engine } from '../../src/core/engine.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { type RunningServer, serve } from '../../src/server/serve.js';
import { Tensor, fromNested } from '../../src/tensor/index.js';

/**
 * A function model whose runs never settle ("hang") must not wedge the model: a run
 * that outlives its timeout gives its instance slot back, /metrics shows it as a
 * stuck run until it settles, and the number of abandoned runs is bounded.
 */

const row = () => fromNested([[1, 2]], 'float32');

async function rejectsWith(p: Promise<unknown>, code: string, status: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ModelpipeError, `expected ModelpipeError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.status, status);
    return true;
  });
}

function stuckGauge(text: string, model: string): number | undefined {
  const m = new RegExp(`^modelpipe_stuck_runs\\{model="${model}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

describe('hung function model', () => {
  let srv: RunningServer;
  /** Settles the hung runs (so the test leaves nothing pending). */
  const release: (() => void)[] = [];
  let runs = 0;
  before(async () => {
    srv = await serve(
      (inputs, config) => {
        runs++;
        const a = inputs.a as Tensor;
        const out = {
          doubled: new Tensor(
            'float32',
            a.shape,
            new Float32Array(a.data as Float32Array).map((x) => x * 2),
          ),
        };
        if (config !== 'hang') return out;
        return new Promise((resolve) => release.push(() => resolve(out)));
      },
      {
        name: 'hang',
        inputs: [{ name: 'a', dtype: 'float32', shape: [-1, 2] }],
        outputs: [{ name: 'doubled', dtype: 'float32', shape: [-1, 2] }],
        instances: 2,
        scheduler: { timeoutMs: 100, maxAbandonedRuns: 4 },
      },
    );
  });
  after(async () => {
    for (const r of release) r();
    await srv?.close();
  });

  const metrics = async () => (await fetch(`${srv.url}/metrics`)).text();
  const ready = async () => (await fetch(`${srv.url}/v2/models/hang/ready`)).status;

  test('runs that outlive their timeout give their slots back; metrics show them; the bound holds', async () => {
    // As many hung calls as instances: each gets its 504.
    await Promise.all([1, 2].map(() => rejectsWith(remote(srv.url, row(), { config: 'hang' }), 'MP_ERR_TIMEOUT', 504)));
    assert.equal(runs, 2);
    // Normal calls still run (before the fix every later request timed out).
    assert.deepEqual(await remote(srv.url, row()), [[2, 4]]);
    assert.deepEqual(await remote(srv.url, row()), [[2, 4]]);
    assert.equal(stuckGauge(await metrics(), 'hang'), 2);
    assert.equal(await ready(), 200);

    // Two more reach the bound of 4 abandoned runs: the model then refuses at once, with a clear code.
    await Promise.all([1, 2].map(() => rejectsWith(remote(srv.url, row(), { config: 'hang' }), 'MP_ERR_TIMEOUT', 504)));
    assert.equal(stuckGauge(await metrics(), 'hang'), 4);
    const before = runs;
    await rejectsWith(remote(srv.url, row()), 'MP_ERR_MODEL_STUCK', 503);
    assert.equal(runs, before, 'a refused request never runs');
    assert.equal(await ready(), 503);

    // Once the stuck runs settle, the model serves again and the gauge is back to 0.
    for (const r of release.splice(0)) r();
    await new Promise((r) => setImmediate(r));
    assert.equal(stuckGauge(await metrics(), 'hang'), 0);
    assert.equal(await ready(), 200);
    assert.deepEqual(await remote(srv.url, row()), [[2, 4]]);
  });
});

describe('hung function model, engine level', () => {
  // Request timers are unref'd (a server's sockets keep it alive); here nothing else would.
  let keepAlive: NodeJS.Timeout;
  before(() => {
    keepAlive = setInterval(() => undefined, 1000);
  });
  after(() => clearInterval(keepAlive));

  test('a cancelled run that ignores its signal is abandoned once its timeout passes', async () => {
    let settle: (() => void) | undefined;
    const model = new FunctionModel(
      (inputs, config) =>
        config === 'hang' ? new Promise((r) => (settle = () => r({ doubled: inputs.a as Tensor }))) : { doubled: inputs.a as Tensor },
      {
        name: 'm',
        inputs: [{ name: 'a', dtype: 'float32', shape: [-1, 2] }],
        outputs: [{ name: 'doubled', dtype: 'float32', shape: [-1, 2] }],
        instances: 1,
      },
    );
    const engine = new Engine();
    engine.add('m', model, { timeoutMs: 60 });
    const ac = new AbortController();
    const hung = engine.infer('m', { inputNames: [], outputNames: [], inputs: [row()], config: 'hang', signal: ac.signal }, 'test');
    ac.abort();
    await rejectsWith(hung, 'MP_ERR_CANCELLED', 499);
    // The only instance is still held by the hung run; the next call waits for the hung run's deadline, then runs.
    const out = await engine.infer('m', { inputNames: [], outputNames: [], inputs: [row()], config: '', timeoutMs: 5000 }, 'test');
    assert.deepEqual([...((out.outputs[0] as Tensor).data as Float32Array)], [1, 2]);
    assert.equal(engine.stuckRuns('m'), 1);
    settle?.();
    await new Promise((r) => setImmediate(r));
    assert.equal(engine.stuckRuns('m'), 0);
    await engine.shutdown();
  });

  test("an abandoned run's signal aborts, so a model that honours it settles", async () => {
    let aborted = 0;
    const model = new FunctionModel(
      (_inputs, _config, ctx) =>
        new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => {
            aborted++;
            reject(new Error('stopped'));
          }),
        ),
      {
        name: 'm',
        inputs: [{ name: 'a', dtype: 'float32', shape: [-1, 2] }],
        outputs: [{ name: 'doubled', dtype: 'float32', shape: [-1, 2] }],
        instances: 1,
      },
    );
    const engine = new Engine();
    engine.add('m', model, { timeoutMs: 30 });
    await rejectsWith(
      engine.infer('m', { inputNames: [], outputNames: [], inputs: [row()], config: '', signal: new AbortController().signal }, 'test'),
      'MP_ERR_TIMEOUT',
      504,
    );
    await new Promise((r) => setImmediate(r));
    assert.equal(aborted, 1);
    assert.equal(engine.stuckRuns('m'), 0);
    await engine.shutdown();
  });

  test('with the bound at 0 a hung run keeps its slot and the model refuses new work', async () => {
    let settle: (() => void) | undefined;
    const model = new FunctionModel((inputs) => new Promise((r) => (settle = () => r({ doubled: inputs.a as Tensor }))), {
      name: 'm',
      inputs: [{ name: 'a', dtype: 'float32', shape: [-1, 2] }],
      outputs: [{ name: 'doubled', dtype: 'float32', shape: [-1, 2] }],
      instances: 1,
    });
    const engine = new Engine();
    engine.add('m', model, { timeoutMs: 30, maxAbandonedRuns: 0 });
    await rejectsWith(engine.infer('m', { inputNames: [], outputNames: [], inputs: [row()], config: '' }, 'test'), 'MP_ERR_TIMEOUT', 504);
    await rejectsWith(
      engine.infer('m', { inputNames: [], outputNames: [], inputs: [row()], config: '' }, 'test'),
      'MP_ERR_MODEL_STUCK',
      503,
    );
    settle?.();
    await engine.shutdown();
  });
});
