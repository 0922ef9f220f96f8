import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { downloadAll, downloadAllSettled } from '../../../src/apps/classy/download.js';
import { ModelpipeError } from '../../../src/errors/index.js';
import { needShared } from '../../helpers/shared.js';
import { type ImageServer, imageBytes, startImageServer } from './image-server.js';

const skip = needShared('images/mug227.png', 'images/hummingbird.jpg');

// Every connection undici attempts or makes, so tests can prove what never left loopback.
const attempts: string[] = [];
const remotes: string[] = [];
const onBeforeConnect = (m: unknown): void => {
  attempts.push((m as { connectParams: { hostname: string } }).connectParams.hostname);
};
const onConnected = (m: unknown): void => {
  remotes.push((m as { socket: Socket }).socket.remoteAddress ?? '?');
};

/** Only our own server may be reached. */
const LOCAL = { allowAddresses: ['127.0.0.1'] } as const;

function assertError(err: unknown, code: string, pattern: RegExp): true {
  assert.ok(err instanceof ModelpipeError, `expected a ModelpipeError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  assert.match(err.message, pattern);
  return true;
}

describe('classy downloader', { skip }, () => {
  let srv: ImageServer;
  before(async () => {
    diagnostics.subscribe('undici:client:beforeConnect', onBeforeConnect);
    diagnostics.subscribe('undici:client:connected', onConnected);
    srv = await startImageServer();
  });
  after(async () => {
    diagnostics.unsubscribe('undici:client:beforeConnect', onBeforeConnect);
    diagnostics.unsubscribe('undici:client:connected', onConnected);
    await srv.close();
    // Whatever happened above, every socket that connected went to loopback.
    assert.ok(remotes.length > 0);
    assert.deepEqual(
      remotes.filter((r) => r !== '127.0.0.1'),
      [],
    );
  });

  test('fetches images byte for byte, concurrently, in input order', async () => {
    const names = ['mug227.png', 'hummingbird.jpg', 'mug227.png'];
    const got = await downloadAll(
      names.map((n) => `${srv.base}/images/${n}`),
      LOCAL,
    );
    assert.equal(got.length, 3);
    for (const [i, n] of names.entries()) assert.deepEqual(Buffer.from(got[i]!), imageBytes(n));
  });

  test('allowPrivate: true permits any address', async () => {
    const [bytes] = await downloadAll([`${srv.base}/images/mug227.png`], { allowPrivate: true });
    assert.equal(bytes!.length, imageBytes('mug227.png').length);
  });

  test('concurrency is bounded', async () => {
    srv.peakDelay = 0;
    const urls = Array.from({ length: 8 }, (_, i) => `${srv.base}/delay/${i}`);
    await downloadAll(urls, { ...LOCAL, concurrency: 3 });
    assert.equal(srv.peakDelay, 3);
  });

  test('fail-first mode names the index and the cause', async () => {
    await assert.rejects(downloadAll([`${srv.base}/images/mug227.png`, `${srv.base}/missing.png`], LOCAL), (e) =>
      assertError(e, 'MP_ERR_FETCH', new RegExp(`^url 1 \\(${srv.base}/missing\\.png\\): HTTP 404$`)),
    );
  });

  test('fail-first mode cancels what is still running', async () => {
    const abandonedBefore = srv.abandoned.filter((p) => p === '/slow').length;
    const t0 = performance.now();
    await assert.rejects(downloadAll([`${srv.base}/slow`, `${srv.base}/missing.png`], { ...LOCAL, timeoutMs: 10_000 }), (e) =>
      assertError(e, 'MP_ERR_FETCH', /^url 1 .*HTTP 404$/),
    );
    assert.ok(performance.now() - t0 < 2000, 'waited for the slow download instead of cancelling it');
    await waitFor(() => srv.abandoned.filter((p) => p === '/slow').length > abandonedBefore);
  });

  test('keep-going mode reports good images beside failures', async () => {
    const res = await downloadAllSettled(
      [`${srv.base}/images/mug227.png`, `${srv.base}/missing.png`, `${srv.base}/images/hummingbird.jpg`, `${srv.base}/page.html`],
      LOCAL,
    );
    assert.deepEqual(
      res.map((r) => r.ok),
      [true, false, true, false],
    );
    assert.deepEqual(Buffer.from((res[0] as { bytes: Uint8Array }).bytes), imageBytes('mug227.png'));
    assert.deepEqual(Buffer.from((res[2] as { bytes: Uint8Array }).bytes), imageBytes('hummingbird.jpg'));
    assert.ok(!res[1]!.ok && assertError(res[1]!.error, 'MP_ERR_FETCH', /^url 1 \(.*\/missing\.png\): HTTP 404$/));
    assert.ok(
      !res[3]!.ok && assertError(res[3]!.error, 'MP_ERR_FETCH', /^url 3 .*content type "text\/html; charset=utf-8" is not an image/),
    );
  });

  test('a slow server times out quickly', async () => {
    for (const path of ['/slow', '/slow-body']) {
      const t0 = performance.now();
      const [r] = await downloadAllSettled([`${srv.base}${path}`], { ...LOCAL, timeoutMs: 150 });
      const elapsed = performance.now() - t0;
      assert.ok(!r!.ok && assertError(r!.error, 'MP_ERR_TIMEOUT', /^url 0 .*: timed out after 150 ms$/));
      assert.ok(elapsed < 1500, `took ${elapsed} ms`);
    }
  });

  test('an oversized body announced by Content-Length is refused before reading it', async () => {
    const [r] = await downloadAllSettled([`${srv.base}/big-announced`], { ...LOCAL, maxBytes: 100_000, timeoutMs: 5000 });
    assert.ok(!r!.ok && assertError(r!.error, 'MP_ERR_FETCH', /body of 50000000 bytes announced, limit 100000/));
    await waitFor(() => srv.abandoned.includes('/big-announced'));
  });

  test('an oversized body without Content-Length is cut off as soon as it passes the limit', async () => {
    const [r] = await downloadAllSettled([`${srv.base}/big-chunked`], { ...LOCAL, maxBytes: 100_000, timeoutMs: 5000 });
    assert.ok(!r!.ok && assertError(r!.error, 'MP_ERR_FETCH', /body exceeds limit of 100000 bytes/));
    await waitFor(() => srv.abandoned.includes('/big-chunked'));
    // The server gave up long before its 64 MiB: the client hung up, it did not drain.
    assert.ok(srv.written.get('/big-chunked')! < 16 * 1024 * 1024, `server wrote ${srv.written.get('/big-chunked')}`);
  });

  test('redirects are followed up to the limit and no further', async () => {
    const [ok] = await downloadAll([`${srv.base}/redirect/3`], { ...LOCAL, maxRedirects: 3 });
    assert.deepEqual(Buffer.from(ok!), imageBytes('mug227.png'));
    const [rel] = await downloadAll([`${srv.base}/relative`], LOCAL);
    assert.deepEqual(Buffer.from(rel!), imageBytes('hummingbird.jpg'));
    const before = srv.hits.length;
    const [r] = await downloadAllSettled([`${srv.base}/redirect/10`], { ...LOCAL, maxRedirects: 3 });
    assert.ok(!r!.ok && assertError(r!.error, 'MP_ERR_FETCH', /too many redirects \(limit 3\)/));
    assert.equal(srv.hits.length - before, 4); // the original request + 3 followed hops
  });

  test('content type must be image/*; octet-stream only when allowed', async () => {
    for (const path of ['/page.html', '/no-type', '/octet']) {
      const [r] = await downloadAllSettled([`${srv.base}${path}`], LOCAL);
      assert.ok(!r!.ok && assertError(r!.error, 'MP_ERR_FETCH', /is not an image/), path);
    }
    const [bytes] = await downloadAll([`${srv.base}/octet`], { ...LOCAL, allowOctetStream: true });
    assert.deepEqual(Buffer.from(bytes!), imageBytes('mug227.png'));
  });

  test('only http and https', async () => {
    const res = await downloadAllSettled(['file:///etc/passwd', 'ftp://127.0.0.1/x.png', 'not a url', `${srv.base}/to-file`], LOCAL);
    assert.ok(!res[0]!.ok && assertError(res[0]!.error, 'MP_ERR_FETCH', /^url 0 \(file:\/\/\/etc\/passwd\): scheme file: not allowed/));
    assert.ok(!res[1]!.ok && assertError(res[1]!.error, 'MP_ERR_FETCH', /scheme ftp: not allowed/));
    assert.ok(!res[2]!.ok && assertError(res[2]!.error, 'MP_ERR_FETCH', /not a valid URL/));
    assert.ok(!res[3]!.ok && assertError(res[3]!.error, 'MP_ERR_FETCH', /redirect to file:\/\/\/etc\/passwd refused: scheme file:/));
  });

  test('private addresses are refused before any connection is attempted', async () => {
    const urls = [
      `${srv.base}/images/mug227.png`, // our own server, but loopback
      'http://169.254.169.254/latest/meta-data/',
      'http://[::1]/',
      'http://0x7f000001/',
      'http://2130706433/',
      'http://[::ffff:169.254.169.254]/',
      'http://10.1.2.3/',
      'http://192.168.0.1/',
      'http://100.64.0.1/',
      'http://0.0.0.0/',
      'https://[fe80::1]/',
    ];
    const hitsBefore = srv.hits.length;
    const attemptsBefore = attempts.length;
    const res = await downloadAllSettled(urls);
    for (const [i, r] of res.entries())
      assert.ok(!r.ok && assertError(r.error, 'MP_ERR_FORBIDDEN_ADDRESS', new RegExp(`^url ${i} `)), urls[i]);
    assert.match((res[1] as { error: Error }).error.message, /169\.254\.169\.254: refused, link-local/);
    assert.match((res[3] as { error: Error }).error.message, /^url 3 \(http:\/\/0x7f000001\/\): 127\.0\.0\.1: refused, loopback/);
    assert.equal(attempts.length, attemptsBefore, `connections attempted: ${attempts.slice(attemptsBefore).join(', ')}`);
    assert.equal(srv.hits.length, hitsBefore);
  });

  test('a host name is checked after DNS resolution, on the address actually dialled', async () => {
    const hitsBefore = srv.hits.length;
    const remotesBefore = remotes.length;
    const [r] = await downloadAllSettled([`http://localhost:${srv.port}/images/mug227.png`]);
    assert.ok(!r!.ok && assertError(r!.error, 'MP_ERR_FORBIDDEN_ADDRESS', /localhost resolves to (127\.0\.0\.1|::1): refused, loopback/));
    assert.equal(remotes.length, remotesBefore, 'a socket connected');
    assert.equal(srv.hits.length, hitsBefore);
  });

  test('every redirect target is checked again', async () => {
    const attemptsBefore = attempts.length;
    const res = await downloadAllSettled([`${srv.base}/to-metadata`, `${srv.base}/to-v6-loopback`], LOCAL);
    assert.ok(
      !res[0]!.ok &&
        assertError(
          res[0]!.error,
          'MP_ERR_FORBIDDEN_ADDRESS',
          /^url 0 \(.*\/to-metadata\): redirect to http:\/\/169\.254\.169\.254\/latest\/meta-data\/ refused: 169\.254\.169\.254: refused, link-local/,
        ),
    );
    assert.ok(
      !res[1]!.ok &&
        assertError(res[1]!.error, 'MP_ERR_FORBIDDEN_ADDRESS', /redirect to http:\/\/\[::1\]:\d+\/images\/mug227\.png refused/),
    );
    // Only our server was dialled; never 169.254.169.254 or ::1.
    assert.deepEqual(new Set(attempts.slice(attemptsBefore)), new Set(['127.0.0.1']));
    assert.ok(!srv.hits.includes('/latest/meta-data/'));
  });

  test('bad options are MP_ERR_BAD_CONFIG', async () => {
    await assert.rejects(downloadAll([], { concurrency: 0 }), (e) => assertError(e, 'MP_ERR_BAD_CONFIG', /concurrency/));
    await assert.rejects(downloadAll([], { allowAddresses: ['nope'] }), (e) => assertError(e, 'MP_ERR_BAD_CONFIG', /"nope"/));
  });
});

async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
