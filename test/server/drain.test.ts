import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { serve } from '../../src/server/serve.js';
import type { Tensor } from '../../src/tensor/index.js';
import { doubled } from '../client/doubling-model.js';
import { rawConnect, until } from '../helpers/raw-http.js';

/**
 * Graceful drain for replicas: the moment a stop begins, readiness fails and new
 * connections are refused (so balancers and clients go elsewhere), while a request
 * already accepted, even one still uploading its body, is served in full.
 */

const BODY = JSON.stringify({ inputs: [{ name: 'a', datatype: 'FP32', shape: [2], data: [1, 2] }] });
const HEAD = `POST /v2/models/twice/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n`;

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

test('close(): a request still uploading when the stop began is answered 200; readiness then says 503; new connections are refused', async () => {
  const srv = await serve(
    async (inputs) => {
      await new Promise((r) => setTimeout(r, 100));
      return { y: doubled(inputs.a as Tensor) };
    },
    {
      name: 'twice',
      inputs: [{ name: 'a', dtype: 'float32', shape: [-1] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1] }],
    },
  );
  const port = Number(new URL(srv.url).port);
  // Headers and half the body: the server has accepted the request and waits for the rest.
  const c = await rawConnect(srv.url, HEAD + BODY.slice(0, 10));
  await until(() => srv.server.inFlight === 1, 5000, 'the request accepted');
  const closing = srv.close();
  assert.equal(await refused(port), true, 'a new connection is refused once the stop began');
  // The rest of the body, and a readiness probe pipelined behind it on the same connection.
  c.socket.write(`${BODY.slice(10)}GET /health/ready HTTP/1.1\r\nHost: x\r\n\r\n`);
  await closing;
  await c.closed;
  const answers = c.received().split(/(?=HTTP\/1\.1 )/);
  assert.match(answers[0] ?? '', /^HTTP\/1\.1 200 /, c.received());
  assert.match(answers[0] ?? '', /"data":\[2,4\]/);
  assert.match(answers[1] ?? '', /^HTTP\/1\.1 503 /, c.received());
  assert.match(answers[1] ?? '', /not ready/);
});
