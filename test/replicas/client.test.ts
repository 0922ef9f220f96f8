import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GraphPipeClient } from '../../src/client/graphpipe-client.js';
import { Tensor } from '../../src/tensor/index.js';
import { runCalls, until } from '../helpers/replica-load.js';
import { Replicas, evenWithin, served } from '../helpers/replicas.js';

/**
 * Three `modelpipe serve` replicas on loopback and one GraphPipeClient over "a,b,c"
 * (issue 13): the load spreads evenly, kill -9 of a serving process mid-run and a
 * rolling SIGTERM restart of all three cost the caller nothing, and a restarted
 * replica is back in rotation within 5 s.
 */

const X = new Tensor('float32', [1, 4], Float32Array.of(1, 2, 3, 4));
let set: Replicas;
let client: GraphPipeClient;

async function identity(): Promise<void> {
  const y = await client.inferRaw(X);
  assert.deepEqual([...(y.data as Float32Array)], [1, 2, 3, 4]);
}

before(async () => {
  set = await Replicas.start(3);
  client = new GraphPipeClient(set.list);
});

after(async () => {
  await client?.close();
  await set?.close();
});

test('2 000 requests through the client: each replica serves within ±25 % of an even share', { timeout: 120_000 }, async () => {
  const start = await set.counts();
  assert.deepEqual(await runCalls(2000, 16, identity).finished, []);
  const shares = served(start, await set.counts());
  assert.equal(
    shares.reduce((a, b) => a + b),
    2000,
  );
  assert.ok(evenWithin(shares), `shares ${shares.join(', ')}`);
});

test('kill -9 of one serving process mid-run: 0 failed requests; restarted, it has traffic again within 5 s', {
  timeout: 120_000,
}, async () => {
  const run = runCalls(2000, 16, identity);
  await until('600 requests done', () => run.done >= 600);
  await set.kill(1, 'SIGKILL');
  assert.deepEqual(await run.finished, []);

  await set.restart(1);
  const back = Date.now();
  // Traffic keeps flowing while the client finds the replica again.
  let stop = false;
  const load = runCalls(Number.POSITIVE_INFINITY, 8, identity, () => stop);
  try {
    await until('the restarted replica serves', async () => (await set.requests(1)) > 0, 5000);
  } finally {
    stop = true;
  }
  assert.ok(Date.now() - back <= 5000);
  assert.deepEqual(await load.finished, []);
});

test('rolling restart of all three with SIGTERM under load: 0 failed requests', { timeout: 120_000 }, async () => {
  let stop = false;
  const load = runCalls(Number.POSITIVE_INFINITY, 8, identity, () => stop);
  try {
    for (let i = 0; i < 3; i++) {
      await set.kill(i, 'SIGTERM');
      await set.restart(i);
      await until(`replica ${i} serves again`, async () => (await set.requests(i)) > 0, 10_000);
    }
  } finally {
    stop = true;
  }
  assert.deepEqual(await load.finished, []);
  assert.ok(load.done > 100, `only ${load.done} requests ran during the restarts`);
});
