import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { status } from '@grpc/grpc-js';
import { ModelpipeError } from '../errors/index.js';
import { grpcPrefix } from '../protocol/oip/index.js';
import { BodyBudget } from './body-budget.js';
import { GrpcError, MessageReader, decompress } from './grpc-message.js';
import { type ServerTls, createHttp2Server } from './tls.js';

export { GrpcError } from './grpc-message.js';

/**
 * Unary gRPC over node:http2 (PROTOCOL-HTTP2.md), the server half of modelpipe's
 * own gRPC transport. Why not grpc-js's server: it assembles every message into a
 * fresh buffer, so each multi-megabyte tensor cost an allocation, page faults and
 * GC pressure on the cores inference needs (bench/oip measured gRPC at 72–84 % of
 * GraphPipe with it). Here a message is copied once into recycled memory (the same
 * pool as HTTP bodies), placed so the method's raw tensor field is 64-byte aligned
 * and decodes as a view (MessageReader). Responses are written as the handler's
 * chunks, unjoined. Every call and connection is bounded (GrpcLimits), and no
 * error on one stream or connection can escape it: the process serves on.
 */

export interface GrpcCallContext {
  /** Aborted when the client cancels, the connection drops or the deadline passes. */
  signal: AbortSignal;
  /** Milliseconds left when the call arrived (grpc-timeout), if the client set a deadline. */
  timeoutMs: number | undefined;
}

export interface UnaryHandler {
  /** Answers one request message with the response message's chunks. */
  handle(message: Buffer, call: GrpcCallContext): Promise<readonly Uint8Array[]>;
  /** A `bytes` field whose first occurrence should start 64-byte aligned in memory. */
  alignField?: number;
}

export interface GrpcLimits {
  /** A call whose request message stops arriving for this long is ended (ms; default 30 s). */
  streamIdleMs?: number;
  /** A connection with no traffic for this long is closed gracefully (ms; default 5 min). */
  sessionIdleMs?: number;
  /** Calls at once on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS; default 256). */
  maxConcurrentStreams?: number;
  /** Connections at once; more are answered UNAVAILABLE and closed (default 1000). */
  maxSessions?: number;
  /** Memory held by request messages still arriving, all calls together (default 1 GiB). */
  maxPendingBytes?: number;
}

export interface GrpcTransportOptions extends GrpcLimits {
  maxMessageBytes: number;
  onError?: (err: unknown) => void;
  /** TLS (h2 over TLS; reloadable, see tls.ts). */
  tls?: ServerTls;
  /** Checks a call's headers before its message is read: a GrpcError refuses it (auth.ts). */
  authorize?: (path: string, headers: http2.IncomingHttpHeaders) => GrpcError | undefined;
}

/** Defaults well above normal use: they bound what hostile or broken clients can hold. */
export const GRPC_LIMIT_DEFAULTS: Required<GrpcLimits> = {
  streamIdleMs: 30_000,
  sessionIdleMs: 300_000,
  maxConcurrentStreams: 256,
  maxSessions: 1000,
  maxPendingBytes: 1024 * 1024 * 1024,
};

const UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** grpc-timeout ("100m", "5S") in ms; undefined when absent or malformed. */
export function parseGrpcTimeout(v: string | undefined): number | undefined {
  const m = v === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(v);
  return m ? Number(m[1]) * (UNITS[m[2] as string] as number) : undefined;
}

const CONTENT_TYPE = 'application/grpc+proto';
const CONNECTION_WINDOW = 64 * 1024 * 1024;
const ACCEPT = 'identity,deflate,gzip';
/** How long a refused connection may linger before it is dropped. */
const REFUSED_LINGER_MS = 1000;

/**
 * Runs `op` on a stream unless the peer is gone. Node throws from respond(),
 * sendTrailers() and friends once a stream is closed (ERR_HTTP2_INVALID_STREAM),
 * and a throw inside an event handler would end the process; a gone peer needs
 * nothing more than the stream's end.
 */
function guarded(stream: http2.ServerHttp2Stream, op: () => void): void {
  if (stream.destroyed || stream.closed) return;
  try {
    op();
  } catch {
    stream.destroy();
  }
}

/** Ends a call with a status (no message), then stops whatever the client still sends. */
function answerStatus(stream: http2.ServerHttp2Stream, e: GrpcError): void {
  if (!stream.headersSent) {
    const h = {
      ':status': 200,
      'content-type': CONTENT_TYPE,
      'grpc-status': String(e.code),
      'grpc-message': encodeURIComponent(e.details),
    };
    guarded(stream, () => stream.respond({ ...h, ...e.metadata }, { endStream: true }));
  }
  setImmediate(() => guarded(stream, () => stream.close(http2.constants.NGHTTP2_NO_ERROR)));
}

export class GrpcHttp2Server {
  readonly server: http2.Http2Server | http2.Http2SecureServer;
  /** Memory held by unfinished request messages (see BodyBudget). */
  readonly budget: BodyBudget;
  private readonly limits: Required<GrpcLimits>;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly refused = new Set<http2.ServerHttp2Session>();
  private openStreams = 0;

  constructor(
    private readonly methods: ReadonlyMap<string, UnaryHandler>,
    private readonly opts: GrpcTransportOptions,
  ) {
    const l = { ...GRPC_LIMIT_DEFAULTS };
    for (const k of Object.keys(l) as (keyof GrpcLimits)[]) if (opts[k] !== undefined) l[k] = opts[k] as number;
    for (const k of ['maxSessions', 'maxConcurrentStreams', 'maxPendingBytes'] as const) {
      if (!(l[k] >= 1)) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `gRPC limit ${k} must be at least 1, got ${l[k]}`);
    }
    this.limits = l;
    this.budget = new BodyBudget(l.maxPendingBytes);
    this.server = createHttp2Server(this.opts.tls, {
      // Large tensors: wide windows spare a WINDOW_UPDATE round trip per 64 KiB,
      // and the session may hold a few of them in flight (Node's default is 10 MB).
      settings: { initialWindowSize: 16 * 1024 * 1024, maxFrameSize: 1024 * 1024, maxConcurrentStreams: l.maxConcurrentStreams },
      maxSessionMemory: 1024,
    });
    this.server.on('session', (s) => this.onSession(s));
    this.server.on('stream', (stream, headers) => {
      try {
        this.onStream(stream, headers);
      } catch (err: unknown) {
        this.opts.onError?.(err);
        stream.destroy();
      }
    });
    // After listen(): an accept failure (EMFILE) is reported, never thrown.
    this.server.on('error', (err) => this.server.listening && this.opts.onError?.(err));
  }

  /** What the server holds now: connections, calls and bytes of unfinished messages. */
  stats(): { sessions: number; streams: number; pendingBytes: number } {
    return { sessions: this.sessions.size, streams: this.openStreams, pendingBytes: this.budget.used };
  }

  private onSession(s: http2.ServerHttp2Session): void {
    s.on('error', () => {}); // a broken connection ends its streams; nothing else to do
    if (this.sessions.size >= this.limits.maxSessions) {
      // Its first call is told why (UNAVAILABLE, see onStream), then it goes.
      this.refused.add(s);
      s.on('close', () => this.refused.delete(s));
      s.setTimeout(REFUSED_LINGER_MS, () => s.destroy());
      return;
    }
    this.sessions.add(s);
    // The connection-level window is not covered by initialWindowSize (it stays 64 KiB).
    s.once('connect', () => s.destroyed || s.setLocalWindowSize(CONNECTION_WINDOW));
    s.on('close', () => this.sessions.delete(s));
    // Graceful: calls in flight finish, then the connection closes.
    if (this.limits.sessionIdleMs > 0) s.setTimeout(this.limits.sessionIdleMs, () => s.closed || s.close());
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => {});
    this.openStreams++;
    stream.once('close', () => this.openStreams--);
    const ct = headers['content-type'] ?? '';
    if (headers[':method'] !== 'POST' || !ct.startsWith('application/grpc')) {
      guarded(stream, () => stream.respond({ ':status': headers[':method'] !== 'POST' ? 405 : 415 }, { endStream: true }));
      return;
    }
    const path = headers[':path'] ?? '';
    const handler = this.methods.get(path);
    const encoding = headers['grpc-encoding'] ?? 'identity';
    const timeoutMs = parseGrpcTimeout(headers['grpc-timeout'] as string | undefined);
    const ac = new AbortController();
    const max = this.opts.maxMessageBytes;
    const reader = new MessageReader(this.budget, max, handler?.alignField);
    let done = false;
    const timer =
      timeoutMs === undefined ? undefined : setTimeout(() => fail(new GrpcError(status.DEADLINE_EXCEEDED, 'deadline exceeded')), timeoutMs);
    const settle = (): void => {
      done = true;
      clearTimeout(timer);
      reader.release();
    };
    const fail = (e: GrpcError): void => {
      if (done) return;
      settle();
      ac.abort();
      answerStatus(stream, e);
    };
    const succeed = (chunks: readonly Uint8Array[]): void => {
      if (done) return;
      const size = chunks.reduce((n, c) => n + c.byteLength, 0);
      if (size > max) {
        fail(new GrpcError(status.RESOURCE_EXHAUSTED, `response of ${size} bytes exceeds the limit of ${max} bytes`));
        return;
      }
      settle();
      this.respond(stream, size, chunks);
    };
    stream.once('close', () => {
      if (done) return;
      settle();
      ac.abort();
    });
    if (this.refused.has(stream.session as http2.ServerHttp2Session)) {
      fail(new GrpcError(status.UNAVAILABLE, `the server is at its limit of ${this.limits.maxSessions} connections; try again later`));
      const s = stream.session;
      if (s && !s.closed) s.close();
      return;
    }
    const denied = this.opts.authorize?.(path, headers);
    if (denied) {
      fail(denied);
      return;
    }
    if (!handler) {
      fail(new GrpcError(status.UNIMPLEMENTED, `unknown method ${path}`));
      return;
    }
    if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'deflate') {
      fail(new GrpcError(status.UNIMPLEMENTED, `grpc-encoding ${encoding} is not supported (identity, gzip, deflate are)`));
      return;
    }
    this.receive(stream, reader, encoding, fail, (msg) =>
      handler
        .handle(msg, { signal: ac.signal, timeoutMs })
        .then(succeed, (err: unknown) => {
          if (!(err instanceof GrpcError)) this.opts.onError?.(err);
          fail(err instanceof GrpcError ? err : new GrpcError(status.INTERNAL, (err as Error)?.message ?? String(err)));
        })
        .catch((err: unknown) => {
          this.opts.onError?.(err); // a bug here must not become an unhandled rejection
          stream.destroy();
        }),
    );
  }

  /** Feeds the stream to `reader` until its message is complete (`onMessage`) or refused (`fail`). */
  private receive(
    stream: http2.ServerHttp2Stream,
    reader: MessageReader,
    encoding: string,
    fail: (e: GrpcError) => void,
    onMessage: (msg: Buffer) => void,
  ): void {
    const idle = this.limits.streamIdleMs;
    if (idle > 0) {
      stream.setTimeout(idle, () => fail(new GrpcError(status.DEADLINE_EXCEEDED, `the request message stalled: no bytes for ${idle} ms`)));
    }
    stream.on('data', (chunk: Buffer) => {
      if (reader.released) return;
      try {
        reader.push(chunk);
      } catch (err: unknown) {
        fail(err as GrpcError);
      }
    });
    stream.on('end', () => {
      // A stream the peer reset or dropped also ends: nobody is left to answer.
      if (reader.released || stream.closed || stream.destroyed) return;
      stream.setTimeout(0); // the message is complete; the handler has its own deadlines
      let msg: Buffer;
      try {
        const m = reader.finish();
        msg = m.compressed ? decompress(m.message, encoding, this.opts.maxMessageBytes) : m.message;
      } catch (err: unknown) {
        fail(err instanceof GrpcError ? err : new GrpcError(status.INTERNAL, `cannot decompress the message: ${(err as Error).message}`));
        return;
      }
      onMessage(msg);
    });
  }

  /** Writes a response; a client that stops reading it is reset after the idle timeout. */
  private respond(stream: http2.ServerHttp2Stream, size: number, chunks: readonly Uint8Array[]): void {
    guarded(stream, () => {
      if (this.limits.streamIdleMs > 0) stream.setTimeout(this.limits.streamIdleMs, () => stream.close(http2.constants.NGHTTP2_CANCEL));
      stream.respond({ ':status': 200, 'content-type': CONTENT_TYPE, 'grpc-accept-encoding': ACCEPT }, { waitForTrailers: true });
      stream.once('wantTrailers', () => guarded(stream, () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': '' })));
      stream.write(grpcPrefix(size));
      for (const c of chunks) stream.write(c);
      stream.end();
    });
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void =>
        reject(new ModelpipeError('MP_ERR_BAD_CONFIG', `gRPC cannot listen on ${host}:${port}: ${err.message}`));
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /** Stops taking connections and calls; running calls finish (5 s at most). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        for (const s of this.sessions) s.destroy();
      }, 5000);
      this.server.close(() => {
        clearTimeout(t);
        resolve();
      });
      for (const s of this.refused) s.destroy();
      for (const s of this.sessions) s.close();
    });
  }
}
