import assert from 'node:assert/strict';
import { createServer as createHttp } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { RemoteError } from '../../src/client/errors.js';
import { graphPipeSend } from '../../src/perf/graphpipe-sender.js';
import { SocketSender } from '../../src/perf/socket-sender.js';
import { Tensor } from '../../src/tensor/index.js';
import { type TestCerts, makeTestCerts } from '../helpers/certs.js';

/**
 * perf's own HTTP/1.1 sender against real servers on loopback: node's HTTP server for
 * the ordinary answers (chunked, Connection: close, a 503 with a body, https), and raw
 * TCP servers for what no HTTP library sends (a close mid-body, an oversized header,
 * silence) and to watch the bytes on the wire (no pipelining, keep-alive reuse).
 */

const listen = async (s: Server): Promise<string> => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
};
const close = (s: Server) => new Promise<void>((r) => s.close(() => r()));

/** A raw server: `answer` gets each complete request (head + Content-Length body) with its socket and the server's count so far. */
function rawServer(answer: (sock: Socket, n: number) => void): Server {
  const sockets = new Set<Socket>();
  let n = 0;
  const srv = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/content-length: (\d+)/i.exec(buf.toString('latin1', 0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        buf = buf.subarray(end + 4 + len);
        n++;
        answer(sock, n);
      }
    });
  });
  srv.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  return srv;
}

const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
const body = Buffer.from('hello');
const expectCode = (code: string) => (err: unknown) => err instanceof RemoteError && err.code === code;

describe('perf socket sender', () => {
  const servers: Server[] = [];
  const senders: SocketSender[] = [];
  const sender = (url: string, timeoutMs = 10_000, limits?: ConstructorParameters<typeof SocketSender>[3]) => {
    const s = new SocketSender(url, 4, timeoutMs, limits);
    senders.push(s);
    return s;
  };
  const start = async (s: Server) => {
    servers.push(s);
    return listen(s);
  };
  let certs: TestCerts;
  before(() => {
    certs = makeTestCerts();
  });
  after(async () => {
    for (const s of senders) await s.close();
    for (const s of servers) {
      (s as { closeAllConnections?: () => void }).closeAllConnections?.();
      await close(s);
    }
    certs.cleanup();
  });

  test('a chunked answer is joined; keep-alive reuses one socket', async () => {
    let connections = 0;
    const srv = createHttp((req, res) => {
      req.resume();
      req.on('end', () => {
        res.write('abc');
        setImmediate(() => res.end('defg'));
      });
    });
    srv.on('connection', () => connections++);
    const post = sender(await start(srv)).post('/x', {}, body);
    for (let i = 0; i < 5; i++) {
      const r = await post(AbortSignal.timeout(5000));
      assert.equal(r.status, 200);
      assert.equal(r.headers['transfer-encoding'], 'chunked');
      assert.equal(r.body.toString(), 'abcdefg');
    }
    assert.equal(connections, 1);
  });

  test('Connection: close answers: each request on a fresh socket, none fails', async () => {
    let connections = 0;
    const srv = createHttp((req, res) => {
      req.resume();
      res.setHeader('connection', 'close');
      res.end('bye');
    });
    srv.on('connection', () => connections++);
    const post = sender(await start(srv)).post('/', {}, body);
    for (let i = 0; i < 3; i++) assert.equal((await post(AbortSignal.timeout(5000))).body.toString(), 'bye');
    assert.equal(connections, 3);
  });

  test('a 503 with a body resolves with both; the GraphPipe check turns it into the sent code', async () => {
    const srv = createHttp((req, res) => {
      req.resume();
      res.writeHead(503, { 'x-modelpipe-error': 'MP_ERR_QUEUE_FULL' });
      res.end('queue full');
    });
    const url = await start(srv);
    const r = await sender(url).post('/', {}, body)(AbortSignal.timeout(5000));
    assert.equal(r.status, 503);
    assert.equal(r.body.toString(), 'queue full');
    const send = graphPipeSend(sender(url), url, [Tensor.zeros('float32', [1, 4])], ['x']);
    await assert.rejects(send(AbortSignal.timeout(5000)), (err: unknown) => {
      assert.ok(err instanceof RemoteError);
      assert.equal(err.code, 'MP_ERR_QUEUE_FULL');
      assert.match(err.message, /HTTP 503: queue full/);
      return true;
    });
  });

  test('a server that closes mid-body: MP_ERR_REMOTE_CLOSED, and the next request reconnects', async () => {
    const srv = rawServer((sock, n) => {
      if (n === 1) sock.end('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b');
      else sock.write(OK);
    });
    const post = sender(await start(srv)).post('/', {}, body);
    await assert.rejects(post(AbortSignal.timeout(5000)), expectCode('MP_ERR_REMOTE_CLOSED'));
    assert.equal((await post(AbortSignal.timeout(5000))).body.toString(), 'ok');
  });

  test('an oversized header, a bad status line, bytes past the end, a body over the cap: MP_ERR_BAD_RESPONSE', async () => {
    const answers = [
      `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(70 * 1024)}\r\ncontent-length: 0\r\n\r\n`,
      'SMTP ready\r\n\r\n',
      `${OK}extra`,
      'HTTP/1.1 200 OK\r\ncontent-length: 2000\r\n\r\n',
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n',
    ];
    const srv = rawServer((sock, n) => sock.write(answers[(n - 1) % answers.length] as string));
    const s = sender(await start(srv), 10_000, { maxHeaderBytes: 64 * 1024, maxBodyBytes: 1000 });
    const post = s.post('/', {}, body);
    for (let i = 0; i < answers.length; i++) await assert.rejects(post(AbortSignal.timeout(5000)), expectCode('MP_ERR_BAD_RESPONSE'));
  });

  test('no pipelining: a socket never carries a second request before its answer', async () => {
    const unanswered = new Map<Socket, number>();
    let early = 0;
    let requests = 0;
    const srv = rawServer((sock) => {
      requests++;
      const n = (unanswered.get(sock) ?? 0) + 1;
      if (n > 1) early++;
      unanswered.set(sock, n);
      setTimeout(() => {
        unanswered.set(sock, (unanswered.get(sock) ?? 1) - 1);
        sock.write(OK);
      }, 5);
    });
    const post = sender(await start(srv)).post('/', {}, body);
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 10; i++) await post(AbortSignal.timeout(5000));
      }),
    );
    assert.equal(requests, 80);
    assert.equal(early, 0);
    assert.ok(unanswered.size <= 4, `${unanswered.size} connections for 4 slots`);
  });

  test('a close-delimited body, silence, a refused port and an abort each end as they should', async () => {
    const srv = rawServer((sock, n) => {
      if (n === 1) sock.end('HTTP/1.0 200 OK\r\n\r\nuntil close');
      // otherwise: never answer
    });
    const url = await start(srv);
    assert.equal((await sender(url).post('/', {}, body)(AbortSignal.timeout(5000))).body.toString(), 'until close');
    await assert.rejects(sender(url, 200).post('/', {}, body)(AbortSignal.timeout(5000)), expectCode('MP_ERR_TIMEOUT'));
    const stop = new AbortController();
    const pending = sender(url).post('/', {}, body)(stop.signal);
    setTimeout(() => stop.abort(), 50);
    await assert.rejects(pending, expectCode('MP_ERR_CANCELLED'));
    const gone = createServer();
    const goneUrl = await listen(gone);
    await close(gone);
    await assert.rejects(sender(goneUrl).post('/', {}, body)(AbortSignal.timeout(5000)), expectCode('MP_ERR_CONNECT'));
  });

  test('requests waiting for a busy socket end too: on abort, and on close', async () => {
    const url = await start(rawServer(() => undefined)); // never answers
    const one = new SocketSender(url, 1, 10_000);
    const post = one.post('/', {}, body);
    const stop = new AbortController();
    const both = [post(stop.signal), post(stop.signal)]; // the second waits for the only socket
    setTimeout(() => stop.abort(), 50);
    for (const p of both) await assert.rejects(p, expectCode('MP_ERR_CANCELLED'));
    const waiting = [post(AbortSignal.timeout(5000)), post(AbortSignal.timeout(5000))];
    await one.close();
    for (const p of waiting) await assert.rejects(p, expectCode('MP_ERR_CLIENT_CLOSED'));
  });

  test('https: the same answers over TLS', async () => {
    const srv = createHttps({ cert: certs.read(certs.serverCert), key: certs.read(certs.serverKey) }, (req, res) => {
      req.resume();
      res.end('secure');
    });
    const url = (await start(srv)).replace('http:', 'https:');
    const s = new SocketSender(url, 2, 5000, undefined, { ca: certs.read(certs.caCert) });
    senders.push(s);
    assert.equal((await s.post('/', {}, body)(AbortSignal.timeout(5000))).body.toString(), 'secure');
  });
});
