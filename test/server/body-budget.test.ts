import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ModelpipeError } from '../../src/errors/index.js';
import { BodyBudget, setBodyBudget } from '../../src/server/body-budget.js';
import { readBody } from '../../src/server/body.js';
import { rawConnect, until } from '../helpers/raw-http.js';

describe('BodyBudget', () => {
  test('releasing more than was reserved is a bug, reported as MP_ERR_INTERNAL', () => {
    const b = new BodyBudget(100);
    b.tryReserve(10);
    assert.throws(
      () => b.release(20),
      (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_INTERNAL',
    );
  });

  test('reserves up to its limit, refuses past it, and a lease gives back exactly what it took, once', () => {
    const b = new BodyBudget(100);
    assert.equal(b.tryReserve(60), true);
    assert.equal(b.tryReserve(50), false);
    assert.equal(b.used, 60);
    const l = b.lease();
    assert.equal(l.growTo(30), true);
    assert.equal(l.growTo(50), false); // 60 + 50 > 100: the lease keeps its 30
    assert.equal(b.used, 90);
    l.release();
    l.release();
    assert.equal(b.used, 60);
    b.release(60);
    assert.equal(b.used, 0);
    assert.equal(b.highWater, 90);
    assert.throws(() => b.release(1));
  });

  describe('readBody against a budget', () => {
    const budget = new BodyBudget(256 * 1024);
    const outcomes: string[] = [];
    const server = createServer((req, res) => {
      setBodyBudget(req, budget);
      readBody(req, 1 << 24).then(
        (body) => res.end(String(body.length)),
        (e: unknown) => {
          outcomes.push(e instanceof ModelpipeError ? e.code : String(e));
          if (!res.headersSent) res.writeHead(503, { connection: 'close' }).end();
        },
      );
    });
    let url = '';
    before(async () => {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((r) => server.close(() => r())));

    test('a chunked body growing past the budget is refused MP_ERR_BODY_MEMORY and its bytes released', async () => {
      const c = await rawConnect(url, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
      const chunk = `10000\r\n${'x'.repeat(0x10000)}\r\n`;
      for (let i = 0; i < 8 && !c.isClosed(); i++) c.socket.write(chunk);
      await until(() => outcomes.length === 1, 10_000, 'the refusal');
      assert.deepEqual(outcomes, ['MP_ERR_BODY_MEMORY']);
      assert.equal(budget.used, 0);
      c.socket.destroy();
    });

    test('a client that goes away mid-body gives its reservation back', async () => {
      const c = await rawConnect(url, `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${'y'.repeat(1000)}`);
      await until(() => budget.used === 100_000, 10_000, 'the reservation');
      c.socket.destroy();
      await until(() => budget.used === 0, 10_000, 'the release');
      assert.equal(outcomes.at(-1), 'MP_ERR_CANCELLED');
    });
  });
});
