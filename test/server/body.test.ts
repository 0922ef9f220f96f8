import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { readBody } from '../../src/server/body.js';

describe('readBody', () => {
  const server = createServer((req, res) => {
    const at = Number(req.headers['x-align-at'] ?? 0);
    readBody(req, 1 << 24, at).then(
      (b) => res.end(JSON.stringify({ aligned: (b.byteOffset + at) % 64 === 0, length: b.length, sum: b.reduce((s, v) => s + v, 0) })),
      (e: Error) => res.writeHead(413).end(e.message),
    );
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test('places a given body offset on a 64-byte boundary, bytes intact', async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    for (const [size, at] of [
      [400_000, 13],
      [400_000, 0],
      [1000, 7],
    ] as const) {
      const body = Buffer.from(Array.from({ length: size }, (_, i) => (i * 31) % 251));
      const got = await new Promise<string>((resolve, reject) => {
        const r = request({ port, method: 'POST', headers: { 'x-align-at': String(at), 'content-length': size } }, (res) => {
          let s = '';
          res.on('data', (c: Buffer) => {
            s += c.toString();
          });
          res.on('end', () => resolve(s));
        });
        r.on('error', reject);
        r.end(body);
      });
      const j = JSON.parse(got) as { aligned: boolean; length: number; sum: number };
      assert.equal(j.length, size);
      assert.equal(
        j.sum,
        body.reduce((s, v) => s + v, 0),
      );
      assert.ok(j.aligned, `offset ${at} of a ${size}-byte body is 64-byte aligned`);
    }
  });
});
