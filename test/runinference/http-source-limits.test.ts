import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Flow, type HttpRecord, functionHandler, httpSource } from '../../src/runinference/index.js';
import { firstResponse, rawConnect, rawMany, until } from '../helpers/raw-http.js';

describe('RunInference HTTP source: server limits', () => {
  it('answers connections past the cap 503 and times out a stalled upload; the pipeline keeps going', async () => {
    const src = await httpSource({ limits: { maxConnections: 3, bodyIdleTimeoutMs: 500 } });
    // Acked once "written", so that a POST is answered.
    const results = Flow.from(src)
      .runInference(functionHandler((xs: readonly HttpRecord[]) => xs.map((x) => (x.value as { n: number }).n * 3), { modelId: 'x3' }))
      .through(src.acker((p: { example: HttpRecord }) => p.example.key))
      .collect();
    const held = await rawMany(src.url, 3, '');
    const extra = await rawConnect(src.url, 'POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n{"n":9}\n');
    await extra.closed;
    assert.equal(firstResponse(extra.received()).status, 503);
    assert.equal(firstResponse(extra.received()).headers['x-modelpipe-error'], 'MP_ERR_TOO_MANY_CONNECTIONS');
    for (const c of held) c.socket.destroy();
    // Admitted again once the server has seen them close (a GET is answered 404, not 503).
    for (let i = 0; i < 200 && (await fetch(src.url).then((r) => r.status)) === 503; i++) await new Promise((r) => setTimeout(r, 20));

    // One whole line, half of another, then nothing: closed with 408 after the idle timeout.
    const stalled = await rawConnect(
      src.url,
      'POST /ingest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nd\r\n{"n":1}\n{"n":\r\n',
    );
    await until(() => stalled.isClosed(), 20_000, 'the stalled upload to be closed');
    const r = firstResponse(stalled.received());
    assert.equal(r.status, 408, stalled.received());
    assert.equal(r.headers['x-modelpipe-error'], 'MP_ERR_BODY_TIMEOUT');

    const ok = await fetch(src.url, { method: 'POST', body: '{"n":2}\n{"n":3}\n' });
    assert.equal(ok.status, 200);
    await ok.text();
    await src.close();
    assert.deepEqual(
      (await results).map((x) => x.inference),
      [3, 6, 9],
    );
  });
});
