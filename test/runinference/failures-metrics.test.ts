import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ModelpipeError } from '../../src/errors/index.js';
import {
  ArraySink,
  type DeadLetter,
  Flow,
  type ModelHandler,
  formatSummary,
  functionHandler,
  withPostprocess,
  withPreprocess,
} from '../../src/runinference/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const doubler = (opts: Parameters<typeof functionHandler<number, number>>[1] = {}) =>
  functionHandler((xs: readonly number[]) => xs.map((x) => x * 2), { modelId: 'double', ...opts });

async function* _trickle<T>(items: T[], ms: number): AsyncGenerator<T> {
  for (const x of items) {
    await sleep(ms);
    yield x;
  }
}

describe('RunInference: dead letters and failure ratio', () => {
  it('routes failing batches, preprocessing and postprocessing to the dead-letter output', async () => {
    const base = functionHandler(
      (xs: readonly number[]) => {
        if (xs.includes(13)) throw new Error('unlucky batch');
        return xs.map((x) => x * 2);
      },
      { modelId: 'm' },
    );
    const h = withPostprocess(
      withPreprocess(base, (s: string) => {
        const n = Number(s);
        if (Number.isNaN(n)) throw new Error(`not a number: ${s}`);
        return n;
      }),
      (p: number) => {
        if (p === 40) throw new Error('no 40s');
        return `=${p}`;
      },
    );
    const dead = new ArraySink<DeadLetter>();
    const input = ['1', 'x', '13', '14', '20', '3'];
    const out = await Flow.from(input).runInference(h, { maxBatchSize: 2, deadLetter: dead }).collect();
    // batches after preprocessing: [1,13] fails, [14,20] → 20 fails in postprocess, [3]
    assert.deepEqual(
      out.map((r) => [r.example, r.inference]),
      [
        ['14', '=28'],
        ['3', '=6'],
      ],
    );
    const byStage = dead.items.map((d) => [d.example, d.stage, d.error.code]);
    assert.deepEqual(byStage, [
      ['x', 'preprocess', 'MP_ERR_PREPROCESS'],
      ['1', 'inference', 'MP_ERR_BATCH_FAILED'],
      ['13', 'inference', 'MP_ERR_BATCH_FAILED'],
      ['20', 'postprocess', 'MP_ERR_POSTPROCESS'],
    ]);
    assert.match(dead.items[1]?.error.message ?? '', /unlucky batch/);
  });

  it('aborts with MP_ERR_FAILURE_RATIO and a report when too many examples fail', async () => {
    const h = functionHandler(
      (xs: readonly number[]) => {
        if (xs.some((x) => x % 2 === 0)) throw new Error('even numbers are not supported');
        return xs;
      },
      { modelId: 'odd-only' },
    );
    let emitted = 0;
    await assert.rejects(
      async () => {
        for await (const _ of Flow.from(Array.from({ length: 10_000 }, (_, i) => i)).runInference(h, {
          maxBatchSize: 1,
          maxFailureRatio: 0.2,
          minExamplesForRatio: 50,
          deadLetter: () => {},
        }))
          emitted++;
      },
      (e: unknown) => {
        assert.ok(e instanceof ModelpipeError);
        assert.equal(e.code, 'MP_ERR_FAILURE_RATIO');
        assert.match(e.message, /25 of 50 examples failed \(50\.0% > max 20\.0%\).*even numbers/);
        return true;
      },
    );
    assert.ok(emitted < 100, 'the run stopped early');
  });

  it('stays under the ratio and completes when few examples fail', async () => {
    const h = functionHandler((xs: readonly number[]) => {
      if (xs[0] === 7) throw new Error('seven');
      return xs;
    });
    const out = await Flow.from(Array.from({ length: 200 }, (_, i) => i))
      .runInference(h, { maxBatchSize: 1, maxFailureRatio: 0.05, deadLetter: () => {} })
      .collect();
    assert.equal(out.length, 199);
  });
});

describe('RunInference: metrics and ensembles of functions', () => {
  it('exports Beam-named metrics to the given registry and prints a summary table', async () => {
    const registry = new Registry();
    const slow = functionHandler(
      async (xs: readonly number[]) => {
        await sleep(2);
        return xs;
      },
      { modelId: 'm1', load: () => sleep(20), byteSize: 1234 },
    );
    const flow = Flow.from(Array.from({ length: 10 }, (_, i) => i)).runInference(slow, { maxBatchSize: 4, registry, name: 'step1' });
    const report = await flow.run();
    const text = await registry.metrics();
    assert.match(text, /num_inferences\{step="step1",model_id="m1"\} 10/);
    assert.match(text, /inference_request_batch_size_count\{step="step1",model_id="m1"\} 3/);
    assert.match(text, /inference_batch_latency_micro_secs_sum\{step="step1",model_id="m1"\} \d+/);
    assert.match(text, /model_byte_size\{step="step1",model_id="m1"\} 1234/);
    assert.match(text, /load_model_latency_milli_secs\{step="step1",model_id="m1"\} (1\d|[2-9]\d)/);
    assert.match(text, /# TYPE failed_batches_counter counter/);
    const table = formatSummary(report);
    assert.match(table, /\| step1 +\| m1 +\| 10 +\| 0 +\|/);
    assert.match(table, /10 items/);
  });

  it('branching sends the same data to two models; zip joins their results', async () => {
    const [a, b] = Flow.from([1, 2, 3]).branch(2) as [Flow<number>, Flow<number>];
    const plus = functionHandler((xs: readonly number[]) => xs.map((x) => x + 100), { modelId: 'plus' });
    const out = await Flow.zip(a.runInference(doubler()), b.runInference(plus))
      .map(([x, y]) => [x.example, x.inference, y.inference])
      .collect();
    assert.deepEqual(out, [
      [1, 2, 101],
      [2, 4, 102],
      [3, 6, 103],
    ]);
  });

  it('sequencing feeds one model output, post-processed, into the next', async () => {
    const a: ModelHandler<number, number> = withPostprocess(doubler(), (p: number) => p + 1);
    const out = await Flow.from([1, 2])
      .runInference(a)
      .map((r) => r.inference)
      .runInference(doubler())
      .collect();
    assert.deepEqual(
      out.map((r) => r.inference),
      [6, 10],
    );
  });
});
