import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { GrpcChannel } from '../../src/client/grpc-channel.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { grpcPrefix } from '../../src/protocol/oip/index.js';
import { GrpcHttp2Server, type GrpcLimits } from '../../src/server/grpc-transport.js';
import { OipGrpcServer } from '../../src/server/oip-grpc-server.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';

/**
 * The gRPC server against hostile and broken clients, on real sockets: calls
 * dropped mid-message, stalled messages, announced sizes never sent, too many
 * calls per connection, too many connections, idle connections.
 */

const LIVE = '/inference.GRPCInferenceService/ServerLive';
const INFER = '/inference.GRPCInferenceService/ModelInfer';
const MiB = 1024 * 1024;

interface Answer {
  grpcStatus: number | undefined;
  message: string;
  rstCode: number | undefined;
}

/** Starts a call that announces `announced` message bytes and sends `send` of them, then stops. */
function partialCall(session: http2.ClientHttp2Session, path: string, announced: number, send: number) {
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
  const answer = new Promise<Answer>((resolve) => {
    const a: Answer = { grpcStatus: undefined, message: '', rstCode: undefined };
    const read = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] !== undefined) a.grpcStatus = Number(h['grpc-status']);
      if (h['grpc-message'] !== undefined) a.message = decodeURIComponent(String(h['grpc-message']));
    };
    stream.on('response', read);
    stream.on('trailers', read);
    stream.on('error', () => {});
    stream.resume();
    stream.on('close', () => resolve({ ...a, rstCode: stream.rstCode }));
  });
  stream.write(grpcPrefix(announced));
  if (send > 0) stream.write(Buffer.alloc(send, 1));
  return { stream, answer };
}

/** Polls `cond` every 10 ms; fails after `ms` (a bound, not a timing claim). */
async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function connect(port: number): { session: http2.ClientHttp2Session; socket: () => net.Socket } {
  let sock: net.Socket | undefined;
  const session = http2.connect(`http://127.0.0.1:${port}`, {
    createConnection: () => {
      sock = net.connect(port, '127.0.0.1');
      return sock;
    },
  });
  session.on('error', () => {});
  return { session, socket: () => sock as net.Socket };
}

const echo = (limits: GrpcLimits) =>
  new GrpcHttp2Server(new Map([['/t/Echo', { handle: async (m: Buffer) => [Buffer.from(m)] }]]), { maxMessageBytes: 64 * MiB, ...limits });

async function live(port: number): Promise<void> {
  const ch = new GrpcChannel(`127.0.0.1:${port}`);
  try {
    await ch.unary(LIVE, [], { timeoutMs: 5000, maxReceiveBytes: 1024 });
  } finally {
    ch.close();
  }
}

describe('gRPC: calls dropped mid-message', () => {
  let srv: RunningServer;
  let grpc: OipGrpcServer;
  let port = 0;
  before(async () => {
    const id = new FunctionModel((i) => ({ y: i.x as never }), {
      name: 'id',
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1] }],
    });
    srv = await serveModel(id);
    grpc = new OipGrpcServer({ engine: srv.engine });
    port = await grpc.listen(0);
  });
  after(async () => {
    await grpc.close();
    await srv.close();
  });

  // The probe's crash: two calls, part of each message, then the connection goes.
  for (const drop of ['session destroyed', 'socket destroyed', 'calls reset'] as const) {
    test(`two partial calls, then ${drop}, five times: the process and other calls live on`, async () => {
      for (let round = 0; round < 5; round++) {
        const { session, socket } = connect(port);
        await new Promise((r) => session.once('connect', r));
        const calls = [partialCall(session, INFER, MiB, 100), partialCall(session, INFER, 2 * MiB, 70_000)];
        await waitFor(() => grpc.stats().streams === 2 && grpc.stats().pendingBytes > 0, 'both calls to arrive');
        if (drop === 'session destroyed') session.destroy();
        else if (drop === 'socket destroyed') socket().destroy();
        else for (const c of calls) c.stream.close(http2.constants.NGHTTP2_CANCEL);
        await Promise.all(calls.map((c) => c.answer));
        await waitFor(() => grpc.stats().streams === 0, 'the dropped calls to be released');
        assert.equal(grpc.stats().pendingBytes, 0);
        await live(port);
        const res = await fetch(`${srv.url}/v2/health/live`);
        assert.equal(res.status, 200);
        session.destroy();
      }
    });
  }
});

describe('gRPC: stalled and oversized messages', () => {
  test('a message that announces 64 MiB and sends 10 bytes holds far less than 64 MiB', async () => {
    const server = echo({});
    const port = await server.listen(0, '127.0.0.1');
    const { session } = connect(port);
    try {
      const c = partialCall(session, '/t/Echo', 64 * MiB, 10);
      await waitFor(() => server.stats().pendingBytes > 0, 'the call to arrive');
      assert.ok(server.stats().pendingBytes <= MiB, `holds ${server.stats().pendingBytes} bytes`);
      session.destroy();
      await c.answer;
      await waitFor(() => server.stats().streams === 0, 'the call to be released');
      assert.equal(server.stats().pendingBytes, 0);
    } finally {
      await server.close();
    }
  });

  test('stalled calls are ended after the idle timeout and their memory is released', async () => {
    const server = echo({ streamIdleMs: 2500 });
    const port = await server.listen(0, '127.0.0.1');
    const { session } = connect(port);
    const ch = new GrpcChannel(`127.0.0.1:${port}`);
    try {
      const calls = [0, 1, 2].map((i) => partialCall(session, '/t/Echo', MiB, i === 0 ? 10 : 600_000));
      await waitFor(() => server.stats().streams === 3 && server.stats().pendingBytes >= 2 * MiB, 'the messages to be buffered');
      for (const a of await Promise.all(calls.map((c) => c.answer))) {
        assert.equal(a.grpcStatus, status.DEADLINE_EXCEEDED);
        assert.match(a.message, /stalled: no bytes for 2500 ms/);
      }
      await waitFor(() => server.stats().streams === 0, 'the streams to close');
      assert.equal(server.stats().pendingBytes, 0);
      // A complete call is still answered.
      const back = await ch.unary('/t/Echo', [Buffer.alloc(3 * MiB, 2)], { timeoutMs: 10_000, maxReceiveBytes: 4 * MiB });
      assert.equal(back.length, 3 * MiB);
    } finally {
      ch.close();
      session.destroy();
      await server.close();
    }
  });

  test('past the budget for unfinished messages, a call is RESOURCE_EXHAUSTED; the others go on', async () => {
    const server = echo({ maxPendingBytes: 4 * MiB });
    const port = await server.listen(0, '127.0.0.1');
    const { session } = connect(port);
    try {
      const first = partialCall(session, '/t/Echo', 3 * MiB, 2 * MiB);
      await waitFor(() => server.stats().pendingBytes >= 3 * MiB, 'the first message to be buffered');
      const refused = await partialCall(session, '/t/Echo', 3 * MiB, 2 * MiB).answer;
      assert.equal(refused.grpcStatus, status.RESOURCE_EXHAUSTED);
      assert.match(refused.message, /unfinished messages, its limit of 4194304/);
      first.stream.end(Buffer.alloc(MiB, 1));
      const ok = await first.answer;
      assert.equal(ok.grpcStatus, status.OK);
      assert.equal(server.stats().pendingBytes, 0);
    } finally {
      session.destroy();
      await server.close();
    }
  });
});

describe('gRPC: caps on calls and connections', () => {
  test('calls per connection are capped by SETTINGS_MAX_CONCURRENT_STREAMS', async () => {
    const server = echo({ maxConcurrentStreams: 2, streamIdleMs: 500 });
    const port = await server.listen(0, '127.0.0.1');
    const { session } = connect(port);
    try {
      await new Promise((r) => session.once('remoteSettings', r));
      assert.equal(session.remoteSettings.maxConcurrentStreams, 2);
      let most = 0;
      const probe = setInterval(() => {
        most = Math.max(most, server.stats().streams);
      }, 5);
      const calls = [0, 1, 2, 3].map(() => partialCall(session, '/t/Echo', 100, 10));
      const answers = await Promise.all(calls.map((c) => c.answer));
      clearInterval(probe);
      assert.ok(most <= 2, `the server held ${most} calls at once`);
      // Every call was heard in the end (the client queued the extra ones), each timing out.
      assert.deepEqual(
        answers.map((a) => a.grpcStatus),
        [4, 4, 4, 4],
      );
    } finally {
      session.destroy();
      await server.close();
    }
  });

  test('connections beyond the cap are told UNAVAILABLE and closed; the admitted one works', async () => {
    const server = echo({ maxSessions: 1 });
    const port = await server.listen(0, '127.0.0.1');
    const first = new GrpcChannel(`127.0.0.1:${port}`);
    const second = new GrpcChannel(`127.0.0.1:${port}`);
    const o = { timeoutMs: 5000, maxReceiveBytes: 1024 };
    try {
      assert.equal((await first.unary('/t/Echo', [Buffer.from('a')], o)).toString(), 'a');
      const err = await second.unary('/t/Echo', [Buffer.from('b')], o).catch((e: unknown) => e);
      assert.equal((err as { code: number }).code, status.UNAVAILABLE);
      assert.match((err as Error).message, /limit of 1 connections/);
      assert.equal((await first.unary('/t/Echo', [Buffer.from('c')], o)).toString(), 'c');
      first.close();
      await waitFor(() => server.stats().sessions === 0, 'the first connection to go');
      assert.equal((await second.unary('/t/Echo', [Buffer.from('d')], o)).toString(), 'd');
    } finally {
      first.close();
      second.close();
      await server.close();
    }
  });

  test('an idle connection is closed after the session idle timeout', async () => {
    const server = echo({ sessionIdleMs: 300 });
    const port = await server.listen(0, '127.0.0.1');
    const { session } = connect(port);
    try {
      let closed = false;
      session.once('close', () => {
        closed = true;
      });
      const c = partialCall(session, '/t/Echo', 1, 1);
      c.stream.end();
      assert.equal((await c.answer).grpcStatus, status.OK);
      await waitFor(() => closed, 'the idle connection to be closed');
      await waitFor(() => server.stats().sessions === 0, 'the server to forget the connection');
    } finally {
      session.destroy();
      await server.close();
    }
  });
});
