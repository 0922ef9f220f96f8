import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Flow, functionHandler, withPreprocess } from '../../src/runinference/index.js';

/**
 * A trickling source: it yields one item, then waits until the pipeline has passed that
 * item on, giving up after 5 s; `held` records, per item, whether it had to give up.
 */
function trickle(n: number, seen: number[], held: boolean[]): AsyncGenerator<number> {
  return (async function* () {
    for (let i = 0; i < n; i++) {
      yield i;
      const t0 = Date.now();
      while (!seen.includes(i) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 5));
      held.push(!seen.includes(i));
    }
  })();
}

describe('a lone item flows through at once (defect 8)', () => {
  it('Flow.map with concurrency 4 passes an item on before the source yields the next one', async () => {
    const seen: number[] = [];
    const held: boolean[] = [];
    for await (const x of Flow.from(trickle(3, seen, held)).map(async (x) => x * 10, { concurrency: 4 })) seen.push(x / 10);
    assert.deepEqual(seen, [0, 1, 2]);
    assert.deepEqual(held, [false, false, false], 'an item was held until the next one arrived');
  });

  it('RunInference with batch concurrency 4 and preprocessing answers a lone example before the next arrives', async () => {
    const seen: number[] = [];
    const held: boolean[] = [];
    // An async preprocessing step puts examples through the engine's ordered window too.
    const h = withPreprocess(
      functionHandler((xs: readonly number[]) => xs.map((x) => x + 100), { modelId: 'plus' }),
      async (x: number) => x,
    );
    for await (const r of Flow.from(trickle(3, seen, held)).runInference(h, { maxBatchSize: 8, maxWaitMs: 10, concurrency: 4 })) {
      seen.push(r.example);
    }
    assert.deepEqual(seen, [0, 1, 2]);
    assert.deepEqual(held, [false, false, false], 'an example was held until the next one arrived');
  });
});
