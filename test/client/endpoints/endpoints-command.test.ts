import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FunctionModel } from '../../../src/models/function-model.js';
import { OipGrpcServer } from '../../../src/server/oip-grpc-server.js';
import { type RunningServer, serveModel } from '../../../src/server/serve.js';
import type { Tensor } from '../../../src/tensor/index.js';
import { CLI, runNode } from '../../helpers/spawn.js';
import { doubled, io } from '../doubling-model.js';
import { deadUrl } from './fault-proxy.js';

/** `modelpipe endpoints` on a list with one dead endpoint: table, JSON, exit codes. */
let srv: RunningServer;
let grpc: OipGrpcServer;
let grpcUrl: string;
let dead: string;

before(async () => {
  srv = await serveModel(new FunctionModel((i) => ({ y: doubled(i.x as Tensor) }), { name: 'double', ...io }));
  grpc = new OipGrpcServer({ engine: srv.engine });
  grpcUrl = `grpc://127.0.0.1:${await grpc.listen(0)}`;
  dead = await deadUrl('http');
});
after(async () => {
  await grpc?.close();
  await srv?.close();
});

test('a list with one dead endpoint: a table of each state, exit 0 while one is ready', async () => {
  const r = await runNode([CLI, 'endpoints', `${srv.url},${dead}`]);
  assert.equal(r.code, 0, r.stderr);
  const [head, columns, ...lines] = r.stdout.trim().split('\n');
  assert.match(head ?? '', /: 1 of 2 ready$/);
  assert.match(columns ?? '', /^ENDPOINT\s+STATE\s+PROBE$/);
  assert.match(lines.find((l) => l.startsWith(srv.url)) ?? '', /\bready\s+\d+ ms/);
  assert.match(lines.find((l) => l.startsWith(dead)) ?? '', /\bunreachable\s+-\s+\(.*ECONNREFUSED/);
});

test('--json, and gRPC endpoints probed with ServerReady', async () => {
  const r = await runNode([CLI, 'endpoints', `${grpcUrl},grpc://${new URL(dead).host}`, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { ready: number; endpoints: { url: string; state: string }[] };
  assert.equal(j.ready, 1);
  assert.deepEqual(
    j.endpoints.map((e) => e.state),
    ['ready', 'unreachable'],
  );
});

test('no endpoint ready: exit 1', async () => {
  const r = await runNode([CLI, 'endpoints', dead, '--json']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal((JSON.parse(r.stdout) as { ready: number }).ready, 0);
});
