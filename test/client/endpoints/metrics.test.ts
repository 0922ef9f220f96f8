import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FunctionModel } from '../../../src/models/function-model.js';
import { RemoteModel } from '../../../src/models/remote-model.js';
import { type RunningServer, serveModel } from '../../../src/server/serve.js';
import type { Tensor } from '../../../src/tensor/index.js';
import { GraphPipeClient } from '../../../src/client/graphpipe-client.js';
import { doubled, input, io } from '../doubling-model.js';
import { deadUrl } from './fault-proxy.js';

/**
 * A server whose remote model calls a set of endpoints (one live, one dead) shows
 * the set's per-endpoint client metrics in its own /metrics.
 */
let backend: RunningServer;
let front: RunningServer;
let dead: string;

before(async () => {
  backend = await serveModel(new FunctionModel((i) => ({ y: doubled(i.x as Tensor) }), { name: 'double', ...io }));
  dead = await deadUrl('http');
  const remote = await RemoteModel.connect({ url: `${dead},${backend.url}`, name: 'double' });
  front = await serveModel(remote);
});
after(async () => {
  await front?.close();
  await backend?.close();
});

test("a server's /metrics shows its remote model's endpoint set, per endpoint", async () => {
  const c = new GraphPipeClient(front.url);
  try {
    for (let i = 0; i < 5; i++) await c.inferManyRaw([input()]);
  } finally {
    await c.close();
  }
  const text = await (await fetch(`${front.url}/metrics`)).text();
  const line = (name: string, endpoint: string) =>
    text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`endpoint="${endpoint}"`));
  const served = line('modelpipe_client_requests_total', backend.url);
  assert.ok(served, text);
  assert.ok(Number(served.split(' ').pop()) >= 5, served);
  assert.match(line('modelpipe_client_endpoint_up', dead) ?? '', / 0$/, 'the dead endpoint is out of rotation');
  // The probe or a call took it out: either way it counts as an ejection.
  assert.match(line('modelpipe_client_ejections_total', dead) ?? '', / [1-9]\d*$/);
});
