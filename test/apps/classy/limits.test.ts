import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { downloaderModel } from '../../../src/apps/classy/downloader-server.js';
import { serveModel } from '../../../src/server/serve.js';
import { firstResponse, rawConnect, rawMany, until } from '../../helpers/raw-http.js';

describe('Classy stage server: server limits', () => {
  it('the downloader closes half-sent headers after headersTimeout and answers connections past the cap 503', async () => {
    const s = await serveModel(downloaderModel(), { limits: { headersTimeoutMs: 500, maxConnections: 4 } });
    try {
      const slow = await rawMany(s.url, 4, 'POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      await until(() => s.server.guard.connections === 4, 10_000, 'four connections');
      const extra = await rawConnect(s.url, 'GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n');
      await extra.closed;
      assert.equal(firstResponse(extra.received()).status, 503);
      assert.equal(firstResponse(extra.received()).headers['x-modelpipe-error'], 'MP_ERR_TOO_MANY_CONNECTIONS');
      await until(() => slow.every((c) => c.isClosed()), 20_000, 'the slow connections to be closed');
      assert.ok(slow.every((c) => firstResponse(c.received()).status === 408));
      const live = await fetch(`${s.url}/health/live`);
      assert.equal(live.status, 200);
      await live.text();
    } finally {
      await s.close();
    }
  });
});
