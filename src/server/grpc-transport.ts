import type http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { status } from '@grpc/grpc-js';
import { ModelpipeError } from '../errors/index.js';
import { BodyBudget } from './body-budget.js';
import { GrpcError, MessageReader } from './grpc-message.js';
import { answerStatus, guarded, parseGrpcTimeout, receiveMessage, sendMessage } from './grpc-stream.js';
import { type ServerTls, createHttp2Server } from './tls.js';

export { GrpcError } from './grpc-message.js';
export { parseGrpcTimeout } from './grpc-stream.js';

/**
 * Unary gRPC over node:http2 (PROTOCOL-HTTP2.md), the server half of modelpipe's
 * own gRPC transport. Why not grpc-js's server: it assembles every message into a
 * fresh buffer, so each multi-megabyte tensor cost an allocation, page faults and
 * GC pressure on the cores inference needs (bench/oip measured gRPC at 72–84 % of
 * GraphPipe with it). Here a message is copied once into recycled memory (the same
 * pool as HTTP bodies), placed so the method's raw tensor field is 64-byte aligned
 * and decodes as a view (MessageReader). Responses are written as the handler's
 * chunks, unjoined. Every call and connection is bounded (GrpcLimits), and no
 * error on one stream or connection can escape it: the process serves on. This file
 * holds connections, limits and dispatch; grpc-stream.ts one call's bytes.
 */

export interface GrpcCallContext {
  /** Aborted when the client cancels, the connection drops or the deadline passes. */
  signal: AbortSignal;
  /** Milliseconds left when the call arrived (grpc-timeout), if the client set a deadline. */
  timeoutMs: number | undefined;
  /** The request's headers (metadata: traceparent, tracestate). */
  headers: http2.IncomingHttpHeaders;
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

const CONNECTION_WINDOW = 64 * 1024 * 1024;
/** How long a refused connection may linger before it is dropped. */
const REFUSED_LINGER_MS = 1000;

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
      sendMessage(stream, this.limits.streamIdleMs, size, chunks);
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
      fail(new GrpcError(status.UNIMPLEMENTED, `unknown method ${path}`, { 'x-modelpipe-error': 'MP_ERR_OIP_NOT_FOUND' }));
      return;
    }
    if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'deflate') {
      const why = `grpc-encoding ${encoding} is not supported (identity, gzip, deflate are)`;
      fail(new GrpcError(status.UNIMPLEMENTED, why, { 'x-modelpipe-error': 'MP_ERR_BAD_REQUEST' }));
      return;
    }
    const io = { encoding, idleMs: this.limits.streamIdleMs, maxMessageBytes: max };
    receiveMessage(stream, reader, io, fail, (msg) =>
      handler
        .handle(msg, { signal: ac.signal, timeoutMs, headers })
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
