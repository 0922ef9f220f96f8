import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ModelpipeError } from '../../src/errors/index.js';
import { batchStream as legacyBatchStream } from '../../src/runinference/index.js';
import { StreamBatcher, batchStream, validateBatchOptions } from '../../src/scheduling/stream-batcher.js';

/*
 * The stream strategy's own behaviour (moved here from RunInference's flow tests);
 * what it shares with the queue is in batcher.case.ts.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isCode = (code: string) => (e: unknown) => e instanceof ModelpipeError && e.code === code;

async function* trickle<T>(items: T[], ms: number): AsyncGenerator<T> {
  for (const x of items) {
    await sleep(ms);
    yield x;
  }
}

/** A source that never stalls: every item is ready at once. */
async function* inMemory<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

describe('stream batcher (batchStream)', () => {
  it('is the batchStream RunInference exports', () => {
    assert.equal(legacyBatchStream, batchStream);
  });

  it('a trickling stream is flushed at minBatchSize, and maxWaitMs caps waiting below it', async () => {
    const eager = [];
    for await (const b of batchStream(trickle([1, 2, 3, 4, 5, 6, 7, 8, 9], 15), {
      minBatchSize: 3,
      maxBatchSize: 100,
      maxWaitMs: 10_000,
    })) {
      eager.push(b.length);
    }
    assert.deepEqual(eager, [3, 3, 3]);
    const t0 = Date.now();
    const timed = [];
    for await (const b of batchStream(trickle([1, 2, 3, 4, 5, 6], 40), { minBatchSize: 50, maxBatchSize: 100, maxWaitMs: 60 })) {
      timed.push(b.length);
    }
    assert.ok(timed.length >= 2, `max wait must flush partial batches, got ${JSON.stringify(timed)}`);
    assert.ok(Math.max(...timed) < 6);
    assert.ok(Date.now() - t0 < 2000);
  });

  it('a consumer that stops early ends the source', async () => {
    let closed = false;
    const source = (async function* () {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed = true;
      }
    })();
    for await (const b of batchStream(source, { maxBatchSize: 4 })) {
      assert.deepEqual(b, [0, 1, 2, 3]);
      break;
    }
    assert.equal(closed, true);
  });

  it('without a signature every item is in one group; with one, groups never mix', async () => {
    const items = [1, 2, 3, 4, 5, 6];
    const one = [];
    for await (const b of batchStream(inMemory(items), { maxBatchSize: 3 })) one.push(b);
    assert.deepEqual(one, [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const parity = [];
    for await (const b of batchStream(inMemory(items), { maxBatchSize: 3, signature: (x) => String(x % 2) })) parity.push(b);
    assert.deepEqual(parity, [
      [1, 3, 5],
      [2, 4, 6],
    ]);
  });

  it('rejects impossible options with MP_ERR_PIPELINE_DEF', () => {
    assert.throws(() => validateBatchOptions({ minBatchSize: 4, maxBatchSize: 2 }), isCode('MP_ERR_PIPELINE_DEF'));
    assert.throws(() => validateBatchOptions({ preferredBatchSizes: [0] }), isCode('MP_ERR_PIPELINE_DEF'));
    assert.throws(() => new StreamBatcher({ maxWaitMs: -1 }), isCode('MP_ERR_PIPELINE_DEF'));
  });
});

describe('stream batcher (submit)', () => {
  it('answers every item with its own result, and refuses items once draining', async () => {
    const runs: number[][] = [];
    const b = new StreamBatcher<number, number>({ maxBatchSize: 2, minBatchSize: 2, maxWaitMs: 10 }, async (xs) => {
      runs.push([...xs]);
      return xs.map((x) => x * 10);
    });
    const out = Promise.all([1, 2, 3].map((x) => b.submit(x)));
    await b.drain();
    assert.deepEqual(await out, [10, 20, 30]);
    assert.deepEqual(runs, [[1, 2], [3]]);
    await assert.rejects(b.submit(4), isCode('MP_ERR_SHUTTING_DOWN'));
  });

  it('a run that returns the wrong number of results fails its batch with MP_ERR_MODEL_OUTPUT', async () => {
    const b = new StreamBatcher<number, number>({ maxBatchSize: 2 }, async () => [1]);
    const out = [b.submit(1), b.submit(2)];
    await b.drain();
    for (const p of out) await assert.rejects(p, isCode('MP_ERR_MODEL_OUTPUT'));
  });

  it('an item whose signature throws fails alone, at submit', async () => {
    const b = new StreamBatcher<number, number>(
      {
        maxBatchSize: 2,
        signature: (x) => {
          if (x < 0) throw new Error('negative');
          return '*';
        },
      },
      async (xs) => [...xs],
    );
    const bad = b.submit(-1);
    const good = [b.submit(1), b.submit(2)];
    await assert.rejects(bad, isCode('MP_ERR_BAD_REQUEST'));
    await b.drain();
    assert.deepEqual(await Promise.all(good), [1, 2]);
  });

  it('submit needs a run function', async () => {
    await assert.rejects(new StreamBatcher<number>().submit(1), isCode('MP_ERR_INTERNAL'));
  });
});
