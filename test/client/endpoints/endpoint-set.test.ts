import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import type { Discovery } from '../../../src/client/endpoints/discovery.js';
import { EndpointSet } from '../../../src/client/endpoints/endpoint-set.js';
import { httpProbe } from '../../../src/client/endpoints/probe.js';
import { RemoteError } from '../../../src/client/errors.js';
import { HttpTransport } from '../../../src/client/http-transport.js';
import { securityOf } from '../../../src/client/security.js';
import { ModelpipeError } from '../../../src/errors/index.js';

/** A discovery a test changes by hand (what DNS or a registry would report). */
class ManualDiscovery implements Discovery {
  readonly description = 'manual';
  #urls: string[];
  readonly #listeners = new Set<(urls: readonly string[]) => void>();
  constructor(urls: string[]) {
    this.#urls = urls;
  }
  ready = () => Promise.resolve();
  current = () => this.#urls;
  subscribe(l: (urls: readonly string[]) => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }
  set(urls: string[]): void {
    this.#urls = urls;
    for (const l of this.#listeners) l(urls);
  }
  close = () => Promise.resolve();
}

/** A promise and its resolver (a call held until the test lets it go). */
function held(): { promise: Promise<void>; release: () => void } {
  let release = () => {};
  const promise = new Promise<void>((r) => {
    release = r;
  });
  return { promise, release };
}

const unavailable = (url: string) => new RemoteError('MP_ERR_QUEUE_FULL', `${url}: queue full`, { url, status: 503 });

describe('EndpointSet', () => {
  const sets: EndpointSet[] = [];
  const make = (target: string | Discovery, opts: ConstructorParameters<typeof EndpointSet>[1] = {}) => {
    const s = new EndpointSet(target, opts);
    sets.push(s);
    return s;
  };
  after(async () => {
    await Promise.all(sets.map((s) => s.close()));
  });

  test('p2c sends new calls to the endpoint with fewer in flight; round-robin takes turns regardless', async () => {
    for (const balance of ['p2c', 'round-robin'] as const) {
      const set = make('http://a,http://b', { balance });
      const gate = held();
      const seen: string[] = [];
      const pending: Promise<void>[] = [];
      // Calls on a are held (it is slow); calls on b answer at once.
      for (let i = 0; i < 10; i++) {
        pending.push(
          set.call(async (url) => {
            seen.push(url);
            if (url === 'http://a') await gate.promise;
          }),
        );
        await new Promise((r) => setImmediate(r));
      }
      const onA = seen.filter((u) => u === 'http://a').length;
      if (balance === 'p2c') assert.equal(onA, 1, `p2c: ${seen.join(' ')}`);
      else assert.equal(onA, 5, `round-robin: ${seen.join(' ')}`);
      gate.release();
      await Promise.all(pending);
    }
  });

  test('p2c spreads concurrent calls evenly over three endpoints', async () => {
    const set = make('http://a,http://b,http://c');
    const gate = held();
    const count = new Map<string, number>();
    const pending = Array.from({ length: 300 }, () =>
      set.call(async (url) => {
        count.set(url, (count.get(url) ?? 0) + 1);
        await gate.promise;
      }),
    );
    await new Promise((r) => setImmediate(r));
    for (const url of ['http://a', 'http://b', 'http://c']) {
      const n = count.get(url) ?? 0;
      assert.ok(n >= 95 && n <= 105, `${url}: ${n} of 300 (${JSON.stringify([...count])})`);
    }
    gate.release();
    await Promise.all(pending);
  });

  test('round-robin is even over sequential calls', async () => {
    const set = make('http://a,http://b,http://c', { balance: 'round-robin' });
    const count = new Map<string, number>();
    for (let i = 0; i < 300; i++) await set.call(async (url) => void count.set(url, (count.get(url) ?? 0) + 1));
    assert.deepEqual([...count.values()], [100, 100, 100]);
  });

  test('the retry budget stops a retry storm: at most 10 % extra tries plus the floor', async () => {
    const set = make('http://a,http://b,http://c');
    let tries = 0;
    let noEndpoints = 0;
    for (let i = 0; i < 300; i++) {
      await assert.rejects(
        set.call(async (url) => {
          tries++;
          throw unavailable(url);
        }),
        (e: unknown) => {
          assert.ok(e instanceof ModelpipeError);
          if (e.code === 'MP_ERR_NO_ENDPOINTS') noEndpoints++;
          else assert.equal(e.code, 'MP_ERR_QUEUE_FULL', 'a call the budget allowed no retry keeps its one error');
          return true;
        },
      );
    }
    // Unbounded, every call would try all three (900); the budget: 300 + 10 % of 300 + 10 (1/s over the 10 s window).
    assert.ok(tries <= 300 + 30 + 10, `${tries} tries`);
    assert.ok(tries > 300, 'some calls did fail over');
    assert.ok(noEndpoints > 0);
  });

  test('no retry once the deadline has passed: the one try keeps its own error', async () => {
    const set = make('http://a,http://b');
    let tries = 0;
    await assert.rejects(
      set.call(
        async (url) => {
          tries++;
          await new Promise((r) => setTimeout(r, 80));
          throw unavailable(url);
        },
        { timeoutMs: 20 },
      ),
      (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_QUEUE_FULL',
    );
    assert.equal(tries, 1);
  });

  test('an endpoint discovery drops takes no new calls, and its call in flight finishes', async () => {
    const d = new ManualDiscovery(['http://a', 'http://b']);
    const set = make(d, { balance: 'round-robin' });
    const gate = held();
    let sawA = false;
    const inFlight = set.call(async (url) => {
      sawA = url === 'http://a';
      await gate.promise;
      return url;
    });
    await new Promise((r) => setImmediate(r));
    assert.ok(sawA, 'the first call went to a');
    d.set(['http://b', 'http://c']);
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) await set.call(async (url) => void seen.add(url));
    assert.deepEqual([...seen].sort(), ['http://b', 'http://c']);
    gate.release();
    assert.equal(await inFlight, 'http://a');
    assert.deepEqual(
      set.endpoints().map((e) => e.url),
      ['http://b', 'http://c'],
    );
  });

  test('an ejected endpoint gets traffic again once it answers ready (back-off capped)', async () => {
    let up = false;
    const srv = http.createServer((_req, res) => res.writeHead(up ? 200 : 503).end());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    const transport = new HttpTransport({});
    const set = make(`${url},http://other`, { probe: httpProbe(transport, () => securityOf(undefined)), health: { intervalMs: 200 } });
    try {
      await set.probeAll();
      assert.equal(set.endpoints()[0]?.health, 'ejected', 'not ready: ejected');
      up = true;
      const t0 = Date.now();
      while (set.endpoints()[0]?.health !== 'ready') {
        assert.ok(Date.now() - t0 < 10_000, 'readmitted within the capped back-off');
        await new Promise((r) => setTimeout(r, 50));
      }
      const seen = new Set<string>();
      for (let i = 0; i < 20; i++) await set.call(async (u) => void seen.add(u));
      assert.ok(seen.has(url));
    } finally {
      await set.close();
      await transport.close();
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });

  test('the HTTP probe asks /control/is_ready where /health/ready answers 404 (graphpipe-go)', async () => {
    const asked: string[] = [];
    const srv = http.createServer((req, res) => {
      asked.push(req.url ?? '');
      res.writeHead(req.url === '/control/is_ready' ? 200 : 404).end();
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const transport = new HttpTransport({});
    try {
      const probe = httpProbe(transport, () => securityOf(undefined));
      assert.equal(await probe(`http://127.0.0.1:${(srv.address() as AddressInfo).port}/some/model`, 2000), true);
      assert.deepEqual(asked, ['/health/ready', '/control/is_ready']);
    } finally {
      await transport.close();
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });

  test('a set with no endpoint, and a closed set, fail with stable codes', async () => {
    const set = make(new ManualDiscovery([]));
    await assert.rejects(
      set.call(async () => 1),
      (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_NO_ENDPOINTS',
    );
    await set.close();
    await assert.rejects(
      set.call(async () => 1),
      (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_CLIENT_CLOSED',
    );
    assert.throws(
      () => new EndpointSet('http://a,http://b', { balance: 'random' as 'p2c' }),
      (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_BAD_CONFIG',
    );
  });
});
