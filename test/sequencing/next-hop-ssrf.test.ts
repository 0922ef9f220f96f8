import assert from 'node:assert/strict';
import { type Server as HttpServer, createServer as createHttpServer } from 'node:http';
import { type Server, createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { downloaderModel } from '../../src/apps/classy/downloader-server.js';
import { STAGE_OUTPUTS, stageTensors } from '../../src/apps/classy/stage-wire.js';
import { multiRemoteRaw } from '../../src/client/graphpipe-client.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { HopPolicy } from '../../src/sequencing/hop-policy.js';
import { hybridSequenced } from '../../src/sequencing/sequencing.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import { Tensor, fromNested } from '../../src/tensor/index.js';

/**
 * SSRF through next hops: a request's config names where the Classy downloader or
 * a hybrid-sequencing model forwards to. Only hops on the server's allow-list may
 * be called; others are refused before any connection (a canary that counts
 * connections proves it), and a hop's raw answer never appears in an error.
 */

const SECRET = 'SECRET-internal-admin-token-4242';

/** Counts TCP connections; answers nothing. */
async function canary(host: string): Promise<{ server: Server; url: string; connections: () => number }> {
  let n = 0;
  const server = createServer((s) => {
    n++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as { port: number }).port;
  return { server, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`, connections: () => n };
}

/** An internal service that is not GraphPipe: its body must never reach the caller. */
async function secretService(status: number): Promise<{ server: HttpServer; url: string }> {
  const server = createHttpServer((req, res) => {
    req.resume();
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(`${SECRET}\n${'x'.repeat(37)}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

/** A next Classy stage that answers one float per image. */
function echoStage(): FunctionModel {
  return new FunctionModel(
    (inputs) => {
      const n = (inputs.images as Tensor).size;
      return stageTensors({ output: fromNested(new Array(n).fill(7), 'float32'), errors: new Array(n).fill(''), timings: {} });
    },
    {
      name: 'echo-stage',
      inputs: [{ name: 'images', dtype: 'string', shape: [-1] }],
      outputs: [
        { name: 'output', dtype: 'float32', shape: [-1] },
        { name: 'errors', dtype: 'string', shape: [-1] },
        { name: 'timings', dtype: 'string', shape: [1] },
      ],
      batchable: false,
    },
  );
}

function assertRefused(err: unknown, hop: RegExp): true {
  assert.ok(err instanceof ModelpipeError, String(err));
  assert.equal(err.code, 'MP_ERR_FORBIDDEN_ADDRESS', err.message);
  assert.match(err.message, hop);
  assert.match(err.message, /--allow-hop/);
  return true;
}

function assertNoUpstreamBytes(err: unknown): true {
  assert.ok(err instanceof ModelpipeError, String(err));
  const m = err.message;
  assert.ok(!m.includes('SECRET') && !m.includes('xxxx'), `upstream bytes echoed: ${m}`);
  assert.ok(!/\b(6[0-9]|7[0-9])\b/.test(m.replace(/127\.0\.0\.1:\d+/g, '')), `upstream length echoed: ${m}`);
  return true;
}

describe('the Classy downloader only forwards to allowed next stages', () => {
  let images: HttpServer;
  let imageHits = 0;
  let imageUrl = '';
  let stage: RunningServer;
  let downloader: RunningServer;
  let v4: Awaited<ReturnType<typeof canary>>;
  let v6: Awaited<ReturnType<typeof canary>> | undefined;
  let ok200: Awaited<ReturnType<typeof secretService>>;
  let err500: Awaited<ReturnType<typeof secretService>>;

  before(async () => {
    images = createHttpServer((req, res) => {
      imageHits++;
      req.resume();
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end('not really a png');
    });
    await new Promise<void>((r) => images.listen(0, '127.0.0.1', r));
    imageUrl = `http://127.0.0.1:${(images.address() as { port: number }).port}/a.png`;
    stage = await serveModel(echoStage());
    v4 = await canary('127.0.0.3');
    v6 = await canary('::1').catch(() => undefined); // a host without IPv6 loopback tests v4 only
    ok200 = await secretService(200);
    err500 = await secretService(500);
    downloader = await serveModel(downloaderModel({ allowPrivate: true, allowHops: [stage.url, ok200.url, err500.url] }));
  });
  after(async () => {
    await downloader?.close();
    await stage?.close();
    for (const s of [images, v4?.server, v6?.server, ok200?.server, err500?.server]) s?.close();
  });

  const call = (config: string): Promise<Tensor[]> =>
    multiRemoteRaw(downloader.url, [Tensor.fromStrings([imageUrl])], { config, outputNames: [...STAGE_OUTPUTS] });

  test('a bare next-hop URL on another loopback address is refused before any connection or download', async () => {
    const hits = imageHits;
    await assert.rejects(call(v4.url), (e) => assertRefused(e, /next hop http:\/\/127\.0\.0\.3:\d+\/ refused/));
    await assert.rejects(call(JSON.stringify({ next: v4.url, keepGoing: true })), (e) => assertRefused(e, /127\.0\.0\.3/));
    assert.equal(v4.connections(), 0, 'the refused hop saw no connection');
    assert.equal(imageHits, hits, 'nothing was downloaded for a refused request');
  });

  test('config.next naming [::1] or a different port of an allowed host is refused', async () => {
    const v6url = v6?.url ?? 'http://[::1]:9/';
    await assert.rejects(call(JSON.stringify({ next: v6url })), (e) => assertRefused(e, /\[::1\]/));
    const otherPort = stage.url.replace(/:(\d+)$/, (_m, p: string) => `:${Number(p) === 65535 ? 1 : Number(p) + 1}`);
    await assert.rejects(call(otherPort), (e) => assertRefused(e, /refused: not among the allowed next hops/));
    assert.equal(v6?.connections() ?? 0, 0);
  });

  test('an allowed next stage is called as before', async () => {
    const [output, errors] = await call(stage.url);
    assert.deepEqual(Array.from(output?.data as Float32Array), [7]);
    assert.deepEqual(errors?.strings(), ['']);
  });

  test("an allowed hop's non-GraphPipe answer is reported by status, never echoed", async () => {
    await assert.rejects(call(ok200.url), (e) => assertNoUpstreamBytes(e));
    await assert.rejects(call(err500.url), (e) => {
      assertNoUpstreamBytes(e);
      assert.match((e as Error).message, /HTTP 500, not a GraphPipe answer/);
      return true;
    });
  });

  test('a downloader with no allow-list forwards nowhere', async () => {
    const lone = await serveModel(downloaderModel({ allowPrivate: true }));
    try {
      await assert.rejects(multiRemoteRaw(lone.url, [Tensor.fromStrings([imageUrl])], { config: stage.url }), (e) =>
        assertRefused(e, /this server allows no next hops/),
      );
    } finally {
      await lone.close();
    }
  });
});

describe('hybrid sequencing only forwards to allowed next hops', () => {
  const spec = {
    name: 'double',
    nested: true,
    inputs: [{ name: 'in', dtype: 'float32' as const, shape: [-1] }],
    outputs: [{ name: 'out', dtype: 'float32' as const, shape: [-1] }],
  };
  let add: RunningServer;
  let hybrid: RunningServer;
  let v4: Awaited<ReturnType<typeof canary>>;
  let secret: Awaited<ReturnType<typeof secretService>>;
  let applied = 0;

  before(async () => {
    add = await serveModel(new FunctionModel((i) => ({ out: (i.in as number[]).map((x) => x + 1) }), { ...spec, name: 'add' }));
    v4 = await canary('127.0.0.3');
    secret = await secretService(200);
    hybrid = await serveModel(
      hybridSequenced(
        (i) => {
          applied++;
          return { out: (i.in as number[]).map((x) => x * 2) };
        },
        { ...spec, allowHops: [add.url, secret.url] },
      ),
    );
  });
  after(async () => {
    await hybrid?.close();
    await add?.close();
    v4?.server.close();
    secret?.server.close();
  });

  const call = (config: string): Promise<Tensor[]> => multiRemoteRaw(hybrid.url, [fromNested([1, 2], 'float32')], { config });

  test('a next hop outside the allow-list is refused before apply or any connection', async () => {
    const before = applied;
    await assert.rejects(call(v4.url), (e) => assertRefused(e, /127\.0\.0\.3/));
    await assert.rejects(call(JSON.stringify({ next: 'http://[::1]:9/' })), (e) => assertRefused(e, /\[::1\]/));
    assert.equal(v4.connections(), 0);
    assert.equal(applied, before);
  });

  test('an allowed next hop works', async () => {
    const [out] = await call(add.url);
    assert.deepEqual(Array.from(out?.data as Float32Array), [3, 5]);
  });

  test("an allowed hop's raw answer is not echoed", async () => {
    await assert.rejects(call(secret.url), (e) => assertNoUpstreamBytes(e));
  });
});

test('hop allow-list entries: origins, CIDRs and host patterns', () => {
  const p = new HopPolicy(['http://127.0.0.1:9001', '10.1.0.0/16', 'fd00::/8', '*.ns.svc.cluster.local:9000', 'model-*']);
  const allowed = [
    'http://127.0.0.1:9001/',
    'http://0x7f.0.0.1:9001/models/x', // the same origin, however the address is written
    'http://10.1.2.3:1234/',
    'http://[fd00::5]:80/',
    'http://a.b.ns.svc.cluster.local:9000/',
    'http://MODEL-blue/',
  ];
  const refused = [
    'http://127.0.0.1:9002/',
    'https://127.0.0.1:9001/',
    'http://127.0.0.3:9001/',
    'http://[::ffff:127.0.0.2]:9001/',
    'http://10.2.0.1/',
    'http://a.ns.svc.cluster.local:9001/',
    'http://evil.com/?x=.ns.svc.cluster.local:9000',
    'http://model-/',
    'http://model-a.evil.com/',
    'file:///etc/passwd',
    'not a url',
  ];
  for (const u of allowed) assert.equal(p.refusal(u), undefined, u);
  for (const u of refused) assert.notEqual(p.refusal(u), undefined, u);
  assert.throws(() => new HopPolicy(['ftp://x']), { code: 'MP_ERR_BAD_CONFIG' });
  assert.throws(() => new HopPolicy(['bad pattern!']), { code: 'MP_ERR_BAD_CONFIG' });
});
