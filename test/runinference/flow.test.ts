import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ModelpipeError } from '../../src/errors/index.js';
import { type DeadLetter, Flow, functionHandler, keyedModels } from '../../src/runinference/index.js';
import { Tensor } from '../../src/tensor/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const doubler = (opts: Parameters<typeof functionHandler<number, number>>[1] = {}) =>
  functionHandler((xs: readonly number[]) => xs.map((x) => x * 2), { modelId: 'double', ...opts });

describe('RunInference: unkeyed and keyed', () => {
  it('unkeyed examples give PredictionResults in order with the model id', async () => {
    const out = await Flow.from([1, 2, 3, 4, 5]).runInference(doubler(), { maxBatchSize: 2 }).collect();
    assert.deepEqual(
      out.map((r) => [r.example, r.inference, r.modelId]),
      [1, 2, 3, 4, 5].map((x) => [x, 2 * x, 'double']),
    );
  });

  it('keyed examples keep their keys', async () => {
    const out = await Flow.from(['a', 'b', 'c'])
      .keyBy((s) => s.toUpperCase())
      .map(([k, s]) => [k, s.charCodeAt(0)] as [string, number])
      .runInferenceKeyed(doubler())
      .collect();
    assert.deepEqual(
      out.map(([k, r]) => [k, r.example, r.inference]),
      [
        ['A', 97, 194],
        ['B', 98, 196],
        ['C', 99, 198],
      ],
    );
  });

  it('keyedModels routes keys to models and keeps at most N resident (LRU unload)', async () => {
    const loads: string[] = [];
    const mk = (id: string, f: number) =>
      functionHandler((xs: readonly number[]) => xs.map((x) => x * f), { modelId: id, load: () => void loads.push(id) });
    const h = keyedModels(
      [
        { keys: ['x'], handler: mk('times10', 10) },
        { keys: ['y'], handler: mk('times100', 100) },
        { keys: ['z'], handler: mk('times1000', 1000) },
      ],
      { maxModelsResident: 2 },
    );
    const input: [string, number][] = [
      ['x', 1],
      ['y', 2],
      ['z', 3],
      ['x', 4],
    ];
    const seen: number[][] = [];
    const out = await Flow.from(input)
      .runInferenceKeyed(h, { maxBatchSize: 1 })
      .tap(() => void seen.push(h.resident()))
      .collect();
    assert.deepEqual(
      out.map(([k, r]) => [k, r.inference, r.modelId]),
      [
        ['x', 10, 'times10'],
        ['y', 200, 'times100'],
        ['z', 3000, 'times1000'],
        ['x', 40, 'times10'],
      ],
    );
    assert.ok(
      seen.every((r) => r.length <= 2),
      `resident sets ${JSON.stringify(seen)}`,
    );
    assert.equal(h.evictions, 2); // x evicted for z, then y evicted for x
    assert.deepEqual(loads, ['times10', 'times100', 'times1000', 'times10']);
  });

  it('an unmapped key goes to the dead-letter output', async () => {
    const h = keyedModels([{ keys: ['x'], handler: doubler() }]);
    const dead: DeadLetter[] = [];
    const out = await Flow.from([
      ['x', 1],
      ['nope', 2],
    ] as [string, number][])
      .runInferenceKeyed(h, { deadLetter: (d) => void dead.push(d) })
      .collect();
    assert.equal(out.length, 1);
    assert.equal(dead[0]?.key, 'nope');
    assert.equal(dead[0]?.error.code, 'MP_ERR_UNKNOWN_MODEL');
  });
});

describe('RunInference: batching', () => {
  it('respects maxBatchSize and never stacks different shapes', async () => {
    const sizes: string[] = [];
    const h = functionHandler(
      (xs: readonly Tensor[]) => {
        const shapes = new Set(xs.map((x) => x.shape.join('x')));
        assert.equal(shapes.size, 1, `mixed shapes in one batch: ${[...shapes]}`);
        sizes.push(`${[...shapes][0]}:${xs.length}`);
        return xs.map((x) => x.size);
      },
      { modelId: 'shapes' },
    );
    const items: Tensor[] = [];
    for (let i = 0; i < 23; i++) items.push(Tensor.zeros('float32', i % 3 === 0 ? [1, 4] : [1, 2]));
    const out = await Flow.from(items).runInference(h, { maxBatchSize: 5 }).collect();
    assert.equal(out.length, 23);
    // Order is kept within a shape group; across groups results come in batch order.
    assert.deepEqual(new Set(out.map((r) => r.example)), new Set(items));
    for (const r of out) assert.equal(r.inference, r.example.size);
    for (const s of sizes) assert.ok(Number(s.split(':')[1]) <= 5, s);
    // 8 examples of [1,4] and 15 of [1,2]: full batches of 5 plus the remainders.
    assert.deepEqual(
      sizes
        .filter((s) => s.startsWith('1x4'))
        .map((s) => Number(s.split(':')[1]))
        .sort(),
      [3, 5],
    );
    assert.deepEqual(
      sizes
        .filter((s) => s.startsWith('1x2'))
        .map((s) => Number(s.split(':')[1]))
        .sort(),
      [5, 5, 5],
    );
  });

  it('Flow.batch groups items through the stream batcher', async () => {
    assert.deepEqual(await Flow.from([1, 2, 3, 4, 5]).batch({ maxBatchSize: 2 }).collect(), [[1, 2], [3, 4], [5]]);
    assert.deepEqual(
      await Flow.from([1, 2, 3, 4, 5])
        .batch({ maxBatchSize: 8, preferredBatchSizes: [3] })
        .collect(),
      [
        [1, 2, 3],
        [4, 5],
      ],
    );
    assert.throws(
      () => Flow.from([1]).batch({ maxBatchSize: 0 }),
      (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_PIPELINE_DEF',
    );
  });

  it('weight-based batching limits the total weight (e.g. tokens) per batch', async () => {
    const words = ['a', 'bb', 'ccc', 'dddd', 'eeeee', 'ffffff', 'g', 'hh', 'iii', 'jjjjjjjjjjjj'];
    const batches: string[][] = [];
    const h = functionHandler(
      (xs: readonly string[]) => {
        batches.push([...xs]);
        return xs.map((x) => x.length);
      },
      { modelId: 'len', weight: (x) => x.length },
    );
    await Flow.from(words).runInference(h, { maxBatchWeight: 7, maxBatchSize: 100 }).collect();
    for (const b of batches) {
      const w = b.reduce((a, x) => a + x.length, 0);
      assert.ok(w <= 7 || b.length === 1, `batch ${JSON.stringify(b)} weighs ${w}`);
    }
    assert.deepEqual(batches.flat(), words);
    assert.ok(batches.some((b) => b.length > 1));
    assert.deepEqual(batches.at(-1), ['jjjjjjjjjjjj']); // heavier than the limit: alone
  });

  it('rejects impossible batching options with a stable code', async () => {
    await assert.rejects(
      Flow.from([1]).runInference(doubler(), { minBatchSize: 10, maxBatchSize: 2 }).collect(),
      (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_PIPELINE_DEF',
    );
  });
});

describe('RunInference: backpressure', () => {
  it('200 000 items through a slow handler keep a bounded number in flight', async () => {
    let produced = 0;
    let consumed = 0;
    let maxInFlight = 0;
    const N = 200_000;
    const source = (function* () {
      for (let i = 0; i < N; i++) {
        produced++;
        maxInFlight = Math.max(maxInFlight, produced - consumed);
        yield i;
      }
    })();
    let slowBatches = 0;
    const h = functionHandler(
      async (xs: readonly number[]) => {
        // Slow for the first 20 batches (the source would race ahead if unbounded), then fast.
        if (slowBatches++ < 20) await sleep(5);
        return xs.map((x) => x + 1);
      },
      { modelId: 'slow' },
    );
    let sum = 0;
    for await (const r of Flow.from(source).runInference(h, { maxBatchSize: 64, concurrency: 2 })) {
      consumed++;
      sum += r.inference;
    }
    assert.equal(consumed, N);
    assert.equal(sum, (N * (N + 1)) / 2);
    // One shape group: the batch being filled (≤ 64) + 2 batches running (concurrency 2).
    // Measured: 128. Unbounded buffering would show tens of thousands here.
    assert.ok(maxInFlight <= 3 * 64 + 8, `max in flight ${maxInFlight}`);
  });

  it('a slow sink slows the source too', async () => {
    let produced = 0;
    const source = (function* () {
      for (let i = 0; i < 10_000; i++) {
        produced++;
        yield i;
      }
    })();
    let maxAhead = 0;
    let written = 0;
    await Flow.from(source)
      .runInference(doubler())
      .to({
        async write(items) {
          await sleep(1);
          written += items.length;
          maxAhead = Math.max(maxAhead, produced - written);
        },
        async close() {},
      });
    assert.equal(written, 10_000);
    assert.ok(maxAhead <= 1000, `source ran ${maxAhead} items ahead of the sink`);
  });
});
