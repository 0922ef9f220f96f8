import assert from 'node:assert/strict';
import { type IncomingMessage, request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { multiRemote, multiRemoteRaw, remote } from '../../src/client/graphpipe-client.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { RemoteModel } from '../../src/models/remote-model.js';
import { decodeInferResponse, encodeRequest } from '../../src/protocol/graphpipe/index.js';
import { type RunningServer, serve, serveModel } from '../../src/server/serve.js';
import { Tensor, fromNested } from '../../src/tensor/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rejectsWith(p: Promise<unknown>, code: string, status: number, msg?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ModelpipeError, `expected ModelpipeError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.status, status);
    if (msg) assert.match(e.message, msg);
    return true;
  });
}

describe('function model server: validation, limits and operations', () => {
  let srv: RunningServer;
  let calls = 0;
  before(async () => {
    srv = await serve(
      async (inputs, config) => {
        calls++;
        const a = inputs.a as Tensor;
        if (config.startsWith('sleep:')) await sleep(Number(config.slice(6)));
        if (config === 'fail') throw new Error('deliberate failure');
        const out = new Float32Array(a.data as Float32Array).map((x) => x * 2);
        return { doubled: new Tensor('float32', a.shape, out), label: Tensor.fromStrings(['x'], [1]) };
      },
      {
        name: 'doubler',
        inputs: [
          { name: 'a', dtype: 'float32', shape: [-1, 2] },
          { name: 'b', dtype: 'int64', shape: [-1] },
        ],
        outputs: [
          { name: 'doubled', dtype: 'float32', shape: [-1, 2] },
          { name: 'label', dtype: 'string', shape: [1] },
        ],
        instances: 1,
        bodyLimit: 4096,
        scheduler: { maxQueueSize: 2 },
      },
    );
  });
  after(() => srv?.close());

  const a = () => fromNested([[1, 2]], 'float32');
  const b = () => fromNested([7], 'int64');

  test('named inputs and outputs round-trip', async () => {
    const [d, l] = await multiRemote(srv.url, [a(), b()], { inputNames: ['a', 'b'], outputNames: ['doubled', 'label'] });
    assert.deepEqual(d, [[2, 4]]);
    assert.deepEqual(l, ['x']);
  });

  test('default inputs (in order) and default outputs', async () => {
    const out = await multiRemote(srv.url, [a(), b()]);
    assert.deepEqual(out, [[[2, 4]], ['x']]);
  });

  const cases: [string, () => Promise<unknown>, string, RegExp][] = [
    [
      'unknown input',
      () => multiRemoteRaw(srv.url, [a(), b()], { inputNames: ['a', 'zz'] }),
      'MP_ERR_UNKNOWN_INPUT',
      /no input named "zz"/,
    ],
    [
      'unknown output',
      () => multiRemoteRaw(srv.url, [a(), b()], { outputNames: ['nope'] }),
      'MP_ERR_UNKNOWN_OUTPUT',
      /no output named "nope"/,
    ],
    ['missing input', () => multiRemoteRaw(srv.url, [a()], { inputNames: ['a'] }), 'MP_ERR_MISSING_INPUT', /missing input b/],
    [
      'wrong dtype',
      () => multiRemoteRaw(srv.url, [fromNested([[1, 2]], 'int32'), b()]),
      'MP_ERR_INPUT_DTYPE',
      /input a expects float32, got int32/,
    ],
    ['wrong rank', () => multiRemoteRaw(srv.url, [fromNested([1, 2], 'float32'), b()]), 'MP_ERR_INPUT_RANK', /input a expects rank 2/],
    [
      'wrong dimension',
      () => multiRemoteRaw(srv.url, [fromNested([[1, 2, 3]], 'float32'), b()]),
      'MP_ERR_INPUT_DIM',
      /dimension 1 must be 2, got 3/,
    ],
    ['too many inputs', () => multiRemoteRaw(srv.url, [a(), b(), b()]), 'MP_ERR_INPUT_COUNT', /takes 2 inputs/],
  ];
  for (const [name, call, code, msg] of cases) {
    test(`rejects ${name} with ${code}`, () => rejectsWith(call(), code, 400, msg));
  }

  test('model failures are 500 with the runtime message', () =>
    rejectsWith(multiRemoteRaw(srv.url, [a(), b()], { config: 'fail' }), 'MP_ERR_MODEL_RUNTIME', 500, /deliberate failure/));

  test('data size mismatch on the wire is a 400 with a wire code', async () => {
    const good = encodeRequest({ type: 'infer', config: '', inputNames: [], inputs: [fromNested([[1, 2]], 'float32')], outputNames: [] });
    // Corrupt the data vector's length prefix (the last payload starts 64-aligned; its length sits just before).
    const bad = Buffer.from(good);
    const payloadAt = bad.length - 8;
    bad.writeUInt32LE(4, payloadAt - 4);
    // A client that asks for GraphPipe errors (Accept: application/octet-stream) gets an InferResponse.
    const res = await request(srv.url, { method: 'POST', body: bad, headers: { accept: 'application/octet-stream' } });
    const body = new Uint8Array(await res.body.arrayBuffer());
    assert.equal(res.statusCode, 400);
    const err = decodeInferResponse(body).errors[0];
    assert.match(err?.message ?? '', /shape \[1, 2\] of float32 but 4 bytes/);
    assert.equal(err?.code, 107);
  });

  test('by default errors are answered as the reference server does: the message as text, the code in a header', async () => {
    for (const accept of [undefined, '*/*', 'application/*']) {
      // Truncated bytes fail in the decoder, before the model (its metrics stay as the test above expects).
      const res = await request(srv.url, { method: 'POST', body: Buffer.from([1, 2, 3]), ...(accept ? { headers: { accept } } : {}) });
      assert.equal(res.statusCode, 400);
      assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(res.headers['x-modelpipe-error'], 'MP_ERR_WIRE_TRUNCATED');
      const text = await res.body.text();
      assert.equal(text, 'malformed GraphPipe message: 3 bytes is too short for a Request\n');
    }
  });

  test('errors reach clients that only read the status line (graphpipe-py raise_for_status)', async () => {
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const r = httpRequest(srv.url, { method: 'POST' }, resolve);
      r.on('error', reject);
      r.end(Buffer.from([1, 2, 3]));
    });
    res.resume();
    assert.equal(res.statusCode, 400);
    assert.equal(res.headers['x-modelpipe-error'], 'MP_ERR_WIRE_TRUNCATED');
    assert.match(res.statusMessage ?? '', /^MP_ERR_WIRE_TRUNCATED: malformed GraphPipe message: 3 bytes is too short/);
  });

  test('a body over the limit is answered 413 with a clear error', () =>
    rejectsWith(
      multiRemoteRaw(srv.url, [Tensor.zeros('float32', [1000, 2]), b()]),
      'MP_ERR_BODY_TOO_LARGE',
      413,
      /exceeds the limit of 4096 bytes/,
    ));

  test('a request that outlives its timeout gets MP_ERR_TIMEOUT', async () => {
    const quick = await serve(
      async () => {
        await sleep(400);
        return [[1]];
      },
      {
        name: 'slow',
        inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 1] }],
        outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 1] }],
        timeoutMs: 50,
      },
    );
    try {
      await rejectsWith(remote(quick.url, [[1]]), 'MP_ERR_TIMEOUT', 504, /timed out after 50 ms/);
    } finally {
      await quick.close();
    }
  });

  test('a client that disconnects is removed from the queue and never runs', async () => {
    const before = calls;
    const first = multiRemoteRaw(srv.url, [a(), b()], { config: 'sleep:300' });
    await sleep(50);
    const ac = new AbortController();
    const second = multiRemoteRaw(srv.url, [a(), b()], { signal: ac.signal });
    await sleep(50);
    ac.abort();
    await rejectsWith(second, 'MP_ERR_CANCELLED', 499);
    await first;
    await sleep(50);
    assert.equal(calls - before, 1, 'the cancelled request must not have been computed');
  });

  test('a full queue is refused at once with 503 and Retry-After', async () => {
    const slow = Array.from({ length: 3 }, () => multiRemoteRaw(srv.url, [a(), b()], { config: 'sleep:200' }));
    await sleep(30);
    const res = await request(srv.url, {
      method: 'POST',
      body: Buffer.from(encodeRequest({ type: 'infer', config: '', inputNames: [], inputs: [a(), b()], outputNames: [] })),
    });
    await res.body.dump();
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers['retry-after'], '1');
    // The gauges are read when scraped: one running, two queued, three in flight.
    const m = await (await fetch(`${srv.url}/metrics`)).text();
    assert.match(m, /modelpipe_queue_depth\{model="doubler"\} 2\n/);
    assert.match(m, /modelpipe_inflight_requests\{model="doubler"\} 3\n/);
    await Promise.all(slow);
  });

  test('health, readiness and metrics endpoints', async () => {
    for (const p of ['/control/is_alive', '/control/is_ready', '/health/live', '/health/ready']) {
      const r = await fetch(srv.url + p);
      assert.equal(r.status, 200, p);
      await r.text();
    }
    const m = await (await fetch(`${srv.url}/metrics`)).text();
    assert.match(m, /modelpipe_requests_total\{model="doubler",protocol="graphpipe",outcome="ok"\} \d+/);
    assert.match(m, /modelpipe_requests_total\{model="doubler",protocol="graphpipe",outcome="MP_ERR_INPUT_DTYPE"\} 1/);
    assert.match(m, /modelpipe_request_duration_seconds_bucket\{le="[^"]+",model="doubler",phase="queue"\}/);
    assert.match(m, /modelpipe_inflight_requests\{model="doubler"\} 0/);
  });
});

test('a remote model proxies another GraphPipe server, config included', async () => {
  const backend = await serve((inputs, config) => ({ y: (inputs.x as number[][]).map((r) => r.map((v) => v + Number(config || 0))) }), {
    name: 'adder',
    nested: true,
    inputs: [{ name: 'x', dtype: 'float32', shape: [-1, -1] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [-1, -1] }],
  });
  const proxy = await serveModel(await RemoteModel.connect({ url: backend.url }));
  try {
    assert.deepEqual(await remote(proxy.url, [[1, 2]], { config: '10' }), [[11, 12]]);
    const md = await fetch(proxy.url).then((r) => r.json() as Promise<{ name: string }>);
    assert.equal(md.name, 'adder');
  } finally {
    await proxy.close();
    await backend.close();
  }
});

test('graceful shutdown finishes in-flight requests, then refuses connections', async () => {
  const m = new FunctionModel(
    async () => {
      await sleep(200);
      return [[42]];
    },
    { name: 'slow', inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 1] }], outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 1] }] },
  );
  const s = await serveModel(m);
  const inflight = remote(s.url, [[1]]);
  await sleep(50);
  await s.close();
  assert.deepEqual(await inflight, [[42]]);
  await rejectsWith(remote(s.url, [[1]], { timeoutMs: 2000 }), 'MP_ERR_CONNECT', 502, /ECONNREFUSED/);
});

test('apply’s context: the outputs asked for, and a signal that aborts when the client goes away', async () => {
  const seen: { outputs: readonly string[]; aborted: boolean }[] = [];
  const srv = await serve(
    (inputs, _config, ctx) =>
      new Promise((resolve) => {
        const entry = { outputs: ctx.outputNames, aborted: false };
        seen.push(entry);
        const done = (): void => resolve({ y: inputs.x as Tensor, z: inputs.x as Tensor });
        if (ctx.outputNames.length === 1) {
          done();
          return;
        }
        ctx.signal.addEventListener('abort', () => {
          entry.aborted = true;
          done();
        });
      }),
    {
      name: 'waits',
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 1] }],
      outputs: [
        { name: 'y', dtype: 'float32', shape: [-1, 1] },
        { name: 'z', dtype: 'float32', shape: [-1, 1] },
      ],
      batchable: false,
    },
  );
  try {
    const x = new Tensor('float32', [1, 1], new Float32Array([1]));
    await multiRemoteRaw(srv.url, [x], { outputNames: ['z'] });
    assert.deepEqual(seen[0]?.outputs, ['z']);
    const ac = new AbortController();
    const pending = multiRemoteRaw(srv.url, [x], { signal: ac.signal });
    for (let i = 0; i < 100 && seen.length < 2; i++) await sleep(10);
    assert.equal(seen.length, 2, 'the second request reached apply');
    ac.abort();
    await rejectsWith(pending, 'MP_ERR_CANCELLED', 499);
    for (let i = 0; i < 100 && !seen[1]?.aborted; i++) await sleep(10);
    assert.equal(seen[1]?.aborted, true, 'apply saw its signal abort');
  } finally {
    await srv.close();
  }
});
