import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import { OIP_BODY, post, postIdentity, postIdentityOip, runLoad, until } from '../helpers/replica-load.js';
import { Replicas, evenWithin, served } from '../helpers/replicas.js';
import { CLI, startPrintingUrl, stop } from '../helpers/spawn.js';

/**
 * `modelpipe batcher --target a,b,c` as the gateway for callers that cannot balance
 * (issue 13), driven by plain HTTP (node:http, no modelpipe client): with --no-batch
 * a plain L7 balancer for GraphPipe and OIP REST; with batching, merged batches over
 * the same set. Either way kill -9 of a replica mid-run costs the caller nothing.
 */

let set: Replicas;
const proxies: ChildProcess[] = [];

async function batcher(...flags: string[]): Promise<string> {
  const b = await startPrintingUrl([CLI, 'batcher', '--target', set.list, '--listen', '127.0.0.1:0', ...flags], 30_000);
  proxies.push(b.proc);
  await until('the proxy ready', async () => (await fetch(`${b.url}/health/ready`)).status === 200);
  return b.url;
}

before(async () => {
  set = await Replicas.start(3);
});

after(async () => {
  for (const p of proxies) await stop(p);
  await set?.close();
});

test('--no-batch: 2 000 plain GraphPipe requests spread within ±25 % of even; OIP REST passes through as well', {
  timeout: 120_000,
}, async () => {
  const url = await batcher('--no-batch');
  const start = await set.counts();
  assert.deepEqual(await runLoad(2000, 16, (agent) => postIdentity(url, agent)).finished, []);
  const shares = served(start, await set.counts());
  assert.equal(
    shares.reduce((a, b) => a + b),
    2000,
  );
  assert.ok(evenWithin(shares), `shares ${shares.join(', ')}`);

  const oip = await postIdentityOip(url);
  assert.equal(oip.status, 200, oip.body.toString());
  assert.match(oip.contentType, /application\/json/);
  assert.deepEqual(JSON.parse(oip.body.toString()).outputs[0].data, [1, 2, 3, 4]);
  // A model's own error is relayed as the replica answered it, not retried elsewhere.
  const bad = await post(`${url}/v2/models/nonexistent/infer`, OIP_BODY, { contentType: 'application/json' });
  assert.equal(bad.status, 404, bad.body.toString());
  assert.match(bad.body.toString(), /nonexistent/);
});

test('--no-batch: kill -9 of a replica mid-run: 0 failed requests', { timeout: 120_000 }, async () => {
  const url = await batcher('--no-batch');
  const run = runLoad(2000, 16, (agent) => postIdentity(url, agent));
  await until('600 requests done', () => run.done >= 600);
  await set.kill(0, 'SIGKILL');
  assert.deepEqual(await run.finished, []);
  await set.restart(0);
});

test('batching: 2 000 plain requests merged into batches over all three; kill -9 mid-run: 0 failed requests', {
  timeout: 120_000,
}, async () => {
  const url = await batcher();
  const start = await set.counts();
  const run = runLoad(2000, 16, (agent) => postIdentity(url, agent));
  await until('600 requests done', () => run.done >= 600);
  const before = served(start, await set.counts());
  assert.ok(
    before.every((n) => n > 0),
    `every replica took batches before the kill: ${before.join(', ')}`,
  );
  await set.kill(2, 'SIGKILL');
  assert.deepEqual(await run.finished, []);
  await set.restart(2);
});

test('--no-batch: its own refusals answer in the route’s protocol (a body over --body-limit: 413)', { timeout: 60_000 }, async () => {
  const url = await batcher('--no-batch', '--body-limit', '64');
  const gp = await postIdentity(url);
  assert.equal(gp.status, 413);
  const oip = await postIdentityOip(url);
  assert.equal(oip.status, 413);
  assert.match(JSON.parse(oip.body.toString()).error, /exceeds the limit of 64 bytes/);
});
