import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import {
  Metadata,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServiceDefinition,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import { GrpcChannel, GrpcStatusError } from '../../src/client/grpc-channel.js';
import { grpcPrefix } from '../../src/protocol/oip/index.js';

/**
 * modelpipe's lean gRPC transport against grpc-js's server (an independent
 * implementation): framing, large messages, statuses with metadata, deadlines,
 * cancellation, limits, unreachable servers and reconnection.
 */

const bytes = (b: Buffer): Buffer => b;
const method = (path: string) => ({
  path,
  requestStream: false,
  responseStream: false,
  requestSerialize: bytes,
  requestDeserialize: bytes,
  responseSerialize: bytes,
  responseDeserialize: bytes,
});
const service: ServiceDefinition = {
  Echo: method('/t.T/Echo'),
  Fail: method('/t.T/Fail'),
  Hang: method('/t.T/Hang'),
};

type Handler = (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => void;
let cancelled = 0;
const handlers: Record<string, Handler> = {
  Echo: (call, cb) => cb(null, Buffer.concat([Buffer.from('echo:'), call.request])),
  Fail: (call, cb) => {
    const md = new Metadata();
    md.set('x-modelpipe-error', 'MP_ERR_INPUT_DTYPE');
    cb({ code: status.INVALID_ARGUMENT, details: `bad input: ${call.request.toString()} — 100 % wrong`, metadata: md });
  },
  Hang: (call) => {
    call.on('cancelled', () => cancelled++);
  },
};

async function start(port = 0): Promise<{ server: Server; port: number }> {
  const server = new Server({ 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
  server.addService(service, handlers);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { server, port: bound };
}

const opts = { timeoutMs: 5000, maxReceiveBytes: 64 * 1024 * 1024 };

async function rejection(p: Promise<unknown>): Promise<GrpcStatusError> {
  const err = await p.then(
    () => assert.fail('expected the call to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof GrpcStatusError, String(err));
  return err;
}

describe('GrpcChannel against a grpc-js server', () => {
  let srv: { server: Server; port: number };
  let ch: GrpcChannel;
  before(async () => {
    srv = await start();
    ch = new GrpcChannel(`127.0.0.1:${srv.port}`);
  });
  after(() => {
    ch.close();
    srv.server.forceShutdown();
  });

  test('a message sent as several chunks arrives whole; the answer comes back', async () => {
    const res = await ch.unary('/t.T/Echo', [Buffer.from('ab'), new Uint8Array([99]), Buffer.alloc(0), Buffer.from('d')], opts);
    assert.equal(res.toString(), 'echo:abcd');
  });

  test('an empty message and concurrent calls on one connection', async () => {
    const all = await Promise.all(
      Array.from({ length: 20 }, (_, i) => ch.unary('/t.T/Echo', i === 0 ? [] : [Buffer.from(String(i))], opts)),
    );
    assert.deepEqual(
      all.map((b) => b.toString()),
      Array.from({ length: 20 }, (_, i) => `echo:${i === 0 ? '' : i}`),
    );
  });

  test('20 MB each way (beyond gRPC’s customary 4 MB), byte for byte', async () => {
    const big = Buffer.alloc(20 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4093) big[i] = i % 251;
    const res = await ch.unary('/t.T/Echo', [big.subarray(0, 7), big.subarray(7)], opts);
    assert.equal(res.length, big.length + 5);
    assert.ok(res.subarray(5).equals(big));
  });

  test('a failing status carries its code, decoded message and metadata', async () => {
    const err = await rejection(ch.unary('/t.T/Fail', [Buffer.from('x')], opts));
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.equal(err.details, 'bad input: x — 100 % wrong');
    assert.equal(err.metadata['x-modelpipe-error'], 'MP_ERR_INPUT_DTYPE');
  });

  test('an unknown method is UNIMPLEMENTED', async () => {
    const err = await rejection(ch.unary('/t.T/Nope', [], opts));
    assert.equal(err.code, status.UNIMPLEMENTED);
  });

  test('the deadline ends a call the server never answers, and the server sees it cancelled', async () => {
    const before = cancelled;
    const t0 = performance.now();
    const err = await rejection(ch.unary('/t.T/Hang', [], { ...opts, timeoutMs: 150 }));
    assert.equal(err.code, status.DEADLINE_EXCEEDED);
    assert.ok(performance.now() - t0 < 2000);
    for (let i = 0; i < 50 && cancelled === before; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(cancelled, before + 1);
  });

  test('an AbortSignal cancels the call', async () => {
    const ac = new AbortController();
    const p = ch.unary('/t.T/Hang', [], { ...opts, signal: ac.signal });
    setTimeout(() => ac.abort(), 30);
    assert.equal((await rejection(p)).code, status.CANCELLED);
    assert.equal((await rejection(ch.unary('/t.T/Echo', [], { ...opts, signal: AbortSignal.abort() }))).code, status.CANCELLED);
  });

  test('a response beyond maxReceiveBytes is refused', async () => {
    const err = await rejection(ch.unary('/t.T/Echo', [Buffer.alloc(1000)], { ...opts, maxReceiveBytes: 100 }));
    assert.equal(err.code, status.RESOURCE_EXHAUSTED);
    assert.match(err.details, /1005 bytes exceeds the limit of 100/);
  });

  test('a restarted server is reached again on a fresh connection', async () => {
    assert.equal((await ch.unary('/t.T/Echo', [Buffer.from('1')], opts)).toString(), 'echo:1');
    const port = srv.port;
    srv.server.forceShutdown();
    const down = await rejection(ch.unary('/t.T/Echo', [Buffer.from('2')], opts));
    assert.equal(down.code, status.UNAVAILABLE);
    srv = await start(port);
    assert.equal((await ch.unary('/t.T/Echo', [Buffer.from('3')], opts)).toString(), 'echo:3');
  });
});

test('GrpcChannel: nothing listening is UNAVAILABLE, promptly', async () => {
  const { server, port } = await start();
  server.forceShutdown();
  const ch = new GrpcChannel(`127.0.0.1:${port}`);
  const err = await rejection(ch.unary('/t.T/Echo', [], opts));
  assert.equal(err.code, status.UNAVAILABLE);
  ch.close();
});

test('GrpcChannel: a server that breaks off mid-response fails those calls only, never the process', async () => {
  // A raw HTTP/2 server that misbehaves as `mode` says, answering properly for 'ok'.
  let mode = 'ok';
  const server = http2.createServer();
  server.on('session', (s) => s.on('error', () => {}));
  server.on('stream', (st) => {
    st.on('error', () => {});
    st.resume();
    if (mode === 'ok') {
      st.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      st.once('wantTrailers', () => st.sendTrailers({ 'grpc-status': '0' }));
      st.end(Buffer.concat([grpcPrefix(2), Buffer.from('ok')]));
      return;
    }
    st.respond({ ':status': 200, 'content-type': 'application/grpc' });
    if (mode !== 'after headers') st.write(Buffer.concat([grpcPrefix(1 << 20), Buffer.alloc(1000)]));
    setTimeout(() => {
      if (mode === 'stream reset') st.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      else if (mode === 'goaway') st.session?.goaway(http2.constants.NGHTTP2_INTERNAL_ERROR);
      else st.session?.destroy();
    }, 20);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const ch = new GrpcChannel(`127.0.0.1:${(server.address() as { port: number }).port}`);
  try {
    for (const m of ['after headers', 'mid-message', 'stream reset', 'goaway']) {
      for (let round = 0; round < 3; round++) {
        mode = m;
        const calls = [0, 1].map(() => rejection(ch.unary('/t.T/Echo', [Buffer.alloc(100)], opts)));
        for (const err of await Promise.all(calls)) assert.notEqual(err.code, status.OK, m);
        mode = 'ok';
        assert.equal((await ch.unary('/t.T/Echo', [], opts)).toString(), 'ok', `after ${m}`);
      }
    }
  } finally {
    ch.close();
    server.close();
  }
});
