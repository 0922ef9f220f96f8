import { TokenAuth } from '../../src/server/auth.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { request } from 'undici';
import { type RunningServer, serve } from '../../src/server/serve.js';
import { DEFAULT_SERVER_LIMITS, type ServerLimits } from '../../src/server/server-limits.js';
import { Tensor } from '../../src/tensor/index.js';
import { destroyAll, firstResponse, rawConnect, rawMany, until } from '../helpers/raw-http.js';

/**
 * The HTTP/1 server's limits against hostile clients (issue 14, item 3), on real
 * loopback sockets: slowloris, stalled and trickled bodies, the connection cap,
 * per-connection and per-client limits, and the drain deadline on close.
 */

let delayMs = 0;
function start(limits: Partial<ServerLimits>, extra: Record<string, unknown> = {}): Promise<RunningServer> {
  return serve(
    async (inputs) => {
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      const a = inputs.a as Tensor;
      return {
        y: new Tensor(
          'float32',
          a.shape,
          (a.data as Float32Array).map((x) => x * 2),
        ),
      };
    },
    {
      name: 'twice',
      inputs: [{ name: 'a', dtype: 'float32', shape: [-1] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1] }],
      instances: 1,
      limits,
      ...extra,
    },
  );
}

const INFER = JSON.stringify({ inputs: [{ name: 'a', datatype: 'FP32', shape: [2], data: [1, 2] }] });
async function infer(url: string): Promise<{ status: number; code: string | undefined; retryAfter: string | undefined }> {
  const r = await request(`${url}/v2/models/twice/infer`, { method: 'POST', body: INFER, headers: { 'content-type': 'application/json' } });
  await r.body.text();
  const h = (k: string) => r.headers[k] as string | undefined;
  return { status: r.statusCode, code: h('x-modelpipe-error'), retryAfter: h('retry-after') };
}

describe('HTTP server limits', () => {
  test('by default a server has finite header and request timeouts and a connection cap', async () => {
    const srv = await start({});
    try {
      // createServer({requestTimeout: 0}) once turned both timeouts off: slowloris held connections forever.
      assert.equal(srv.server.server.headersTimeout, DEFAULT_SERVER_LIMITS.headersTimeoutMs);
      assert.equal(srv.server.server.requestTimeout, DEFAULT_SERVER_LIMITS.requestTimeoutMs);
      assert.ok(DEFAULT_SERVER_LIMITS.headersTimeoutMs > 0 && DEFAULT_SERVER_LIMITS.maxConnections > 0);
      assert.equal(srv.server.guard.limits.maxConnections, DEFAULT_SERVER_LIMITS.maxConnections);
    } finally {
      await srv.close();
    }
  });

  test('slowloris: normal requests keep succeeding while 5 000 half-sent headers are held; those are closed after headersTimeout', async () => {
    // Opening 5 000 connections takes seconds on a loaded machine: hold them under a long
    // timeout, then shorten it (node reads server.headersTimeout at every check).
    const srv = await start({ headersTimeoutMs: 120_000 });
    try {
      const slow = await rawMany(srv.url, 5000, 'POST /v2/models/twice/infer HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      await until(() => srv.server.guard.connections >= 5000, 30_000, '5 000 connections accepted');
      for (let i = 0; i < 20; i++) assert.equal((await infer(srv.url)).status, 200);
      assert.equal(slow.filter((c) => c.isClosed()).length, 0);
      srv.server.server.headersTimeout = 500;
      await until(() => slow.every((c) => c.isClosed()), 30_000, 'the server to close the slow connections');
      assert.ok(
        slow.every((c) => firstResponse(c.received()).status === 408),
        'a slow connection was closed without a 408',
      );
      assert.equal((await infer(srv.url)).status, 200);
    } finally {
      await srv.close();
    }
  });

  test('stalled bodies are timed out and their memory released; past the budget a body is refused 503', async () => {
    const srv = await start({ bodyIdleTimeoutMs: 1_000, bodyMemoryBytes: 4 * 1024 * 1024 }, { bodyLimit: 8 * 1024 * 1024 });
    const budget = srv.server.guard.budget;
    try {
      // Each declares 1 MiB, sends 64 KiB, then stalls.
      const head = `POST /v2/models/twice/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${1024 * 1024}\r\n\r\n`;
      const stalled = await rawMany(srv.url, 4, head + ' '.repeat(64 * 1024));
      await until(() => budget.used === 4 * 1024 * 1024, 10_000, 'four bodies to hold the budget');
      const refused = await rawConnect(srv.url, head);
      await refused.closed;
      const r = firstResponse(refused.received());
      assert.equal(r.status, 503);
      assert.equal(r.headers['x-modelpipe-error'], 'MP_ERR_BODY_MEMORY');
      assert.equal(r.headers['retry-after'], '1');
      await until(() => stalled.every((c) => c.isClosed()), 20_000, 'the stalled bodies to be closed');
      for (const c of stalled) {
        const s = firstResponse(c.received());
        assert.equal(s.status, 408, c.received().slice(0, 200));
        assert.equal(s.headers['x-modelpipe-error'], 'MP_ERR_BODY_TIMEOUT');
      }
      assert.equal(budget.used, 0);
      assert.equal((await infer(srv.url)).status, 200);
    } finally {
      await srv.close();
    }
  });

  test('a body trickled faster than the idle timeout is still closed at requestTimeout', async () => {
    const srv = await start({ bodyIdleTimeoutMs: 5_000, headersTimeoutMs: 1_000, requestTimeoutMs: 1_500 });
    try {
      const c = await rawConnect(srv.url, 'POST /v2/models/twice/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
      const drip = setInterval(() => c.socket.write('1\r\n \r\n'), 100);
      await until(() => c.isClosed(), 20_000, 'the trickle to be closed');
      clearInterval(drip);
      assert.equal(firstResponse(c.received()).status, 408);
      assert.equal(srv.server.guard.budget.used, 0);
    } finally {
      await srv.close();
    }
  });

  test('connections past maxConnections are answered 503 with a code, not dropped', async () => {
    const srv = await start({ maxConnections: 10 });
    try {
      const held = await rawMany(srv.url, 10, '');
      await until(() => srv.server.guard.connections === 10, 10_000, '10 connections');
      const extra = await rawConnect(srv.url, 'GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n');
      await extra.closed;
      const r = firstResponse(extra.received());
      assert.equal(r.status, 503);
      assert.equal(r.headers['x-modelpipe-error'], 'MP_ERR_TOO_MANY_CONNECTIONS');
      assert.equal(r.headers['retry-after'], '1');
      destroyAll(held);
      await until(() => srv.server.guard.connections === 0, 10_000, 'the held connections to close');
      assert.equal((await infer(srv.url)).status, 200);
    } finally {
      await srv.close();
    }
  });

  describe('per-client and per-connection limits', () => {
    let srv: RunningServer;
    before(async () => {
      srv = await start({ maxInFlightPerClient: 2, maxInFlightPerConnection: 2 });
    });
    after(() => srv.close());

    test('a client past maxInFlightPerClient is answered 429 with Retry-After; health probes are exempt', async () => {
      delayMs = 400;
      try {
        const calls = [infer(srv.url), infer(srv.url), infer(srv.url)];
        await until(() => srv.server.guard.inFlightFor('addr:127.0.0.1') === 2, 5_000, 'two requests in flight');
        const live = await request(`${srv.url}/health/live`);
        assert.equal(live.statusCode, 200);
        await live.body.text();
        const got = await Promise.all(calls);
        const limited = got.filter((g) => g.status === 429);
        assert.equal(limited.length, 1, JSON.stringify(got));
        assert.equal(limited[0]?.code, 'MP_ERR_CLIENT_LIMIT');
        assert.equal(limited[0]?.retryAfter, '1');
        assert.equal(got.filter((g) => g.status === 200).length, 2);
      } finally {
        delayMs = 0;
      }
      assert.equal((await infer(srv.url)).status, 200);
    });

    test('with bearer tokens, a request counts against its token, not the address it shares', async () => {
      const A = 'alice-token-0123456789';
      const B = 'bob-token-01234567890';
      const tokened = await start({ maxInFlightPerClient: 1 }, { auth: new TokenAuth({ inline: `${A} infer alice\n${B} infer bob` }) });
      const call = async (token: string): Promise<number> => {
        const r = await request(`${tokened.url}/v2/models/twice/infer`, {
          method: 'POST',
          body: INFER,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        });
        await r.body.text();
        return r.statusCode;
      };
      delayMs = 400;
      try {
        // Same address, two tokens: one each is admitted; a second of alice's is refused.
        const calls = [call(A), call(B), call(A)];
        const statuses = await Promise.all(calls);
        assert.deepEqual([...statuses].sort(), [200, 200, 429], statuses.join(','));
        assert.equal(statuses[1], 200, 'bob has a limit of his own');
      } finally {
        delayMs = 0;
        await tokened.close();
      }
    });

    test('pipelined requests past maxInFlightPerConnection are answered 429', async () => {
      delayMs = 300;
      const one = `POST /v2/models/twice/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${INFER.length}\r\n\r\n${INFER}`;
      // One raw connection, so the per-client limit (also 2) counts the same requests.
      const c = await rawConnect(srv.url, one.repeat(4));
      await until(() => (c.received().match(/HTTP\/1\.1 /g) ?? []).length === 4, 10_000, 'four answers');
      const statuses = [...c.received().matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => Number(m[1]));
      assert.ok(statuses.includes(429), statuses.join(','));
      assert.match(c.received(), /x-modelpipe-error: MP_ERR_(CONNECTION|CLIENT)_LIMIT/);
      c.socket.destroy();
      delayMs = 0;
    });
  });

  test('close() past drainTimeoutMs answers what is left MP_ERR_DRAIN_TIMEOUT and logs no error', async () => {
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    const srv = await start({}, { drainTimeoutMs: 300, logger });
    delayMs = 1_500;
    try {
      const calls = [infer(srv.url), infer(srv.url), infer(srv.url)];
      await until(() => srv.server.inFlight === 3, 5_000, 'three requests');
      const t0 = performance.now();
      await srv.close();
      const got = await Promise.all(calls);
      for (const g of got) {
        assert.equal(g.status, 503, JSON.stringify(got));
        assert.equal(g.code, 'MP_ERR_DRAIN_TIMEOUT');
      }
      assert.ok(performance.now() - t0 < 10_000);
      assert.deepEqual(
        lines.filter((l) => l.level >= 50),
        [],
      );
      assert.ok(lines.some((l) => l.level === 40 && /drain timeout/.test(l.msg)));
    } finally {
      delayMs = 0;
    }
  });
});
