import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { remote } from '../../src/client/graphpipe-client.js';
import { closeGrpcClients } from '../../src/client/oip-client.js';
import { grpcInfer } from '../../src/client/oip-grpc-client.js';
import { OipGrpcServer } from '../../src/server/oip-grpc-server.js';
import type { RunningServer } from '../../src/server/serve.js';
import { fromNested } from '../../src/tensor/index.js';
import { BAD_SHAPE_SLOW, GOOD_MNIST, GOOD_SLOW, NOT_JSON, SLOW_MS, oipInfer, sampleSum, serveSlowModel, until } from '../helpers/prom.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { CLI, startPrintingUrl, stop } from '../helpers/spawn.js';

const PHASES = ['decode', 'queue', 'compute_input', 'compute', 'compute_output', 'encode', 'total'];
const N = 7;

const phase = (p: string) => new RegExp(`model="slow".*phase="${p}"|phase="${p}".*model="slow"`);

describe('metrics split: phases and failures, counted once per request', () => {
  let srv: RunningServer;
  let grpc: OipGrpcServer;
  let metrics: string;
  before(async () => {
    srv = await serveSlowModel();
    grpc = new OipGrpcServer({ engine: srv.engine });
    await grpc.listen(0);
    for (let i = 0; i < N - 2; i++) assert.equal((await oipInfer(srv.url, 'slow', GOOD_SLOW)).status, 200);
    // One over GraphPipe and one over gRPC: every frontend times its decode and encode through the same helper.
    await remote(srv.url, fromNested([[1, 2]], 'float32'));
    const x = fromNested([[1, 2]], 'float32');
    await grpcInfer(`grpc://${grpc.address}`, 'slow', [{ name: 'x', tensor: x }], {});
    await assert.rejects(grpcInfer(`grpc://${grpc.address}`, 'slow', [{ name: 'x', tensor: fromNested([[1, 2, 3]], 'float32') }], {}));
    closeGrpcClients();
    assert.equal((await oipInfer(srv.url, 'slow', BAD_SHAPE_SLOW)).code, 'MP_ERR_INPUT_DIM');
    assert.equal((await oipInfer(srv.url, 'slow', NOT_JSON)).code, 'MP_ERR_WIRE_BAD_JSON');
    assert.equal((await oipInfer(srv.url, 'nosuch', GOOD_SLOW)).code, 'MP_ERR_UNKNOWN_MODEL');
    metrics = await (await fetch(`${srv.url}/metrics`)).text();
  });
  after(async () => {
    await grpc?.close();
    await srv?.close();
  });

  test('every phase histogram counts each successful request once', () => {
    for (const p of PHASES) {
      assert.equal(sampleSum(metrics, 'modelpipe_request_duration_seconds_count', phase(p)), N, `${p}\n${metrics}`);
    }
    for (const [protocol, count] of [
      ['oip-rest', N - 2],
      ['graphpipe', 1],
      ['oip-grpc', 1],
    ] as const) {
      assert.equal(sampleSum(metrics, 'modelpipe_requests_total', new RegExp(`protocol="${protocol}".*outcome="ok"`)), count, protocol);
    }
  });

  test('compute holds the model run: its sum is at least N × the delay, and no more than total', () => {
    const compute = sampleSum(metrics, 'modelpipe_request_duration_seconds_sum', phase('compute'));
    const total = sampleSum(metrics, 'modelpipe_request_duration_seconds_sum', phase('total'));
    // setTimeout may fire a fraction of a millisecond early by performance.now().
    assert.ok(compute >= N * SLOW_MS * 0.95e-3, `compute sum ${compute}`);
    assert.ok(total >= compute, `total ${total} < compute ${compute}`);
    // Decoding and encoding a 2-float request take nowhere near a model run.
    assert.ok(sampleSum(metrics, 'modelpipe_request_duration_seconds_sum', phase('decode')) < compute);
  });

  test('failures count by model, protocol and stable code; an unknown model is labelled ""', () => {
    const failures = (labels: string) => sampleSum(metrics, 'modelpipe_request_failures_total', new RegExp(labels));
    assert.equal(failures('model="slow",protocol="oip-rest",code="MP_ERR_INPUT_DIM"'), 1, metrics);
    assert.equal(failures('model="slow",protocol="oip-rest",code="MP_ERR_WIRE_BAD_JSON"'), 1, metrics);
    assert.equal(failures('model="",protocol="oip-rest",code="MP_ERR_UNKNOWN_MODEL"'), 1, metrics);
    assert.equal(failures('model="slow",protocol="oip-grpc",code="MP_ERR_INPUT_DIM"'), 1, metrics);
    assert.equal(failures('.*'), 4);
    assert.doesNotMatch(metrics, /nosuch/);
    // requests_total counts the same failures as outcomes, so error ratio = failures / requests.
    assert.equal(sampleSum(metrics, 'modelpipe_requests_total', /outcome="MP_ERR_/), 4);
  });
});

const skip = needShared('models/mnist.onnx');

test('serve --processes 2: the phase and failure series are summed over processes', { skip, timeout: 120_000 }, async () => {
  const s = await startPrintingUrl([CLI, 'serve', sharedPath('models/mnist.onnx'), '--listen', '127.0.0.1:0', '--processes', '2'], 60_000);
  try {
    await until(async () => (await fetch(`${s.url}/health/ready`)).status === 200);
    const pids = new Set<string>();
    const requests = 30;
    for (let i = 0; i < requests; i++) {
      // A fresh connection each time, so node:cluster's round robin spreads them.
      const r = await fetch(`${s.url}/v2/models/mnist/infer`, {
        method: 'POST',
        body: GOOD_MNIST,
        headers: { 'content-type': 'application/json', connection: 'close' },
      });
      await r.arrayBuffer();
      assert.equal(r.status, 200);
      pids.add(String(r.headers.get('x-modelpipe-pid')));
    }
    assert.equal(pids.size, 2, 'both processes served');
    for (let i = 0; i < 4; i++) await oipInfer(s.url, 'mnist', NOT_JSON);
    const m = await (await fetch(`${s.url}/metrics`)).text();
    for (const p of ['decode', 'compute', 'encode']) {
      const count = sampleSum(m, 'modelpipe_request_duration_seconds_count', new RegExp(`model="mnist".*phase="${p}"`));
      assert.equal(count, requests, `${p}\n${m}`);
    }
    assert.equal(sampleSum(m, 'modelpipe_request_failures_total', /model="mnist".*code="MP_ERR_WIRE_BAD_JSON"/), 4, m);
    // Each process loads its own copy: the gauge is the slowest load (max), not the sum.
    // Each start line's loadMs runs from the same start to a later point than the gauge's reading.
    const loads = [...s.output().matchAll(/"loadMs":(\d+)/g)].map((x) => Number(x[1]));
    assert.equal(loads.length, 2, s.output());
    const gauge = sampleSum(m, 'modelpipe_model_load_seconds', /model="mnist"/);
    assert.ok(gauge > 0 && gauge * 1000 <= Math.max(...loads) + 1, `load gauge ${gauge} s, processes' loadMs ${loads}`);
  } finally {
    await stop(s.proc);
  }
});
