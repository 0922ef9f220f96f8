import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { parseProcesses } from '../../src/cli/processes.js';
import { closeGrpcClients } from '../../src/client/oip-client.js';
import { grpcInfer } from '../../src/client/oip-grpc-client.js';
import { Tensor } from '../../src/tensor/index.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { CLI, runNode, startPrintingUrl, stop } from '../helpers/spawn.js';
import { sampleSum } from '../helpers/prom.js';

const skip = needShared('models/mnist.onnx');

const BODY = JSON.stringify({
  inputs: [{ name: 'Input3', shape: [1, 1, 28, 28], datatype: 'FP32', data: new Array(784).fill(0) }],
});

/** One OIP inference on a fresh connection (so node:cluster's round robin sees every request), resolving with the serving pid. */
function infer(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/v2/models/mnist/infer`,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve(String(res.headers['x-modelpipe-pid'])) : reject(new Error(`status ${res.statusCode}`)),
        );
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error('request timed out')));
    req.once('error', reject);
    req.end(BODY);
  });
}

/** `count` inferences, `concurrency` at a time; the pids that served them. */
async function load(url: string, count: number, concurrency: number): Promise<string[]> {
  const pids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        pids.push(await infer(url));
      }
    }),
  );
  return pids;
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const r = await fetch(url);
  return { status: r.status, text: await r.text() };
}

/** Polls until `f` holds (bounded). */
async function until(what: string, f: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('--processes parses counts and auto, and refuses nonsense', () => {
  assert.equal(parseProcesses(undefined), 1);
  assert.equal(parseProcesses('3'), 3);
  assert.ok(parseProcesses('auto') >= 1);
  for (const bad of ['0', '-1', '1.5', 'two', '5000']) assert.throws(() => parseProcesses(bad), /MP_ERR_BAD_CONFIG|--processes/);
});

test('serve --processes 2: both serve, /metrics counts every request, a SIGKILLed one is restarted, SIGTERM drains all', {
  skip,
  timeout: 120_000,
}, async () => {
  const args = ['--listen', '127.0.0.1:0', '--grpc-listen', '127.0.0.1:0', '--processes', '2'];
  const s = await startPrintingUrl([CLI, 'serve', sharedPath('models/mnist.onnx'), ...args], 60_000);
  try {
    await until('ready', async () => (await get(`${s.url}/health/ready`)).status === 200);
    // The gRPC port is shared too (each process reports the same address).
    const grpc = [...s.output().matchAll(/"grpc":"(127\.0\.0\.1:\d+)"/g)].map((m) => m[1]);
    assert.equal(grpc.length, 2, s.output());
    assert.equal(grpc[0], grpc[1]);
    const input = new Tensor('float32', [1, 1, 28, 28], new Float32Array(784));
    for (let i = 0; i < 20; i++) await grpcInfer(`grpc://${grpc[0]}`, 'mnist', [{ name: 'Input3', tensor: input }], {});
    closeGrpcClients();
    const pids = await load(s.url, 200, 8);
    assert.equal(pids.length, 200);
    const served = new Set(pids);
    assert.equal(served.size, 2, `served by ${[...served].join(', ')}`);

    // Whichever process answers /metrics, it counts the other's requests too.
    for (let i = 0; i < 4; i++) {
      const m = (await get(`${s.url}/metrics`)).text;
      assert.equal(sampleSum(m, 'modelpipe_requests_total', /model="mnist".*outcome="ok"/), 220, m);
      assert.equal(sampleSum(m, 'modelpipe_process_restarts_total'), 0);
    }

    const [victim] = [...served] as [string];
    process.kill(Number(victim), 'SIGKILL');
    await until('the death logged', () => s.output().includes(`server process ${victim} died (SIGKILL)`));
    // The survivor serves every request while the other restarts; health says not all are ready.
    const during = await load(s.url, 40, 4);
    assert.ok(!during.includes(victim));
    await until('restarted and ready', async () => (await get(`${s.url}/health/ready`)).status === 200);
    const after = new Set(await load(s.url, 40, 4));
    assert.equal(after.size, 2, `served by ${[...after].join(', ')}`);
    assert.ok(!after.has(victim));
    assert.equal(sampleSum((await get(`${s.url}/metrics`)).text, 'modelpipe_process_restarts_total'), 1);
  } finally {
    const code = await stop(s.proc, 'SIGTERM');
    assert.equal(code, 0, s.output());
  }
  assert.match(s.output(), /stopping: draining every server process/);
  assert.doesNotMatch(s.output(), /"level":50/);
});

test('serve --processes 2 with a model that cannot load exits 1 with the error, instead of restarting forever', {
  timeout: 60_000,
}, async () => {
  const r = await runNode([CLI, 'serve', '/nonexistent/model.onnx', '--listen', '127.0.0.1:0', '--processes', '2']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /MP_ERR_MODEL_LOAD/);
  assert.doesNotMatch(r.stdout, /restarting it/);
});
