import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { gunzipSync, inflateSync } from 'node:zlib';
import { status } from '@grpc/grpc-js';
import { ModelpipeError } from '../errors/index.js';
import { fieldDataOffset, grpcPrefix } from '../protocol/oip/index.js';
import { alignedBuffer } from './body.js';
import { type ServerTls, createHttp2Server } from './tls.js';

/**
 * Unary gRPC over node:http2 (PROTOCOL-HTTP2.md), the server half of modelpipe's
 * own gRPC transport. Why not grpc-js's server: it assembles every message into a
 * fresh buffer, so each multi-megabyte tensor cost an allocation, page faults and
 * GC pressure on the cores inference needs (bench/oip measured gRPC at 72–84 % of
 * GraphPipe with it). Here a message goes straight into recycled memory (the same
 * pool as HTTP bodies), placed so the method's raw tensor field is 64-byte aligned
 * and decodes as a view. Responses are written as the handler's chunks, unjoined.
 */

export class GrpcError extends Error {
  constructor(
    readonly code: status,
    readonly details: string,
    readonly metadata: Readonly<Record<string, string>> = {},
  ) {
    super(details);
  }
}

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

export interface GrpcTransportOptions {
  maxMessageBytes: number;
  onError?: (err: unknown) => void;
  /** TLS (h2 over TLS; reloadable, see tls.ts). */
  tls?: ServerTls;
  /** Checks a call's headers before its message is read: a GrpcError refuses it (auth.ts). */
  authorize?: (path: string, headers: http2.IncomingHttpHeaders) => GrpcError | undefined;
}

const UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** grpc-timeout ("100m", "5S") in ms; undefined when absent or malformed. */
export function parseGrpcTimeout(v: string | undefined): number | undefined {
  const m = v === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(v);
  return m ? Number(m[1]) * (UNITS[m[2] as string] as number) : undefined;
}

const CONTENT_TYPE = 'application/grpc+proto';
const CONNECTION_WINDOW = 64 * 1024 * 1024;
const ACCEPT = 'identity,deflate,gzip';

export class GrpcHttp2Server {
  readonly server: http2.Http2Server | http2.Http2SecureServer;
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  constructor(
    private readonly methods: ReadonlyMap<string, UnaryHandler>,
    private readonly opts: GrpcTransportOptions,
  ) {
    this.server = createHttp2Server(opts.tls, {
      // Large tensors: wide windows spare a WINDOW_UPDATE round trip per 64 KiB,
      // and the session may hold a few of them in flight (Node's default is 10 MB).
      settings: { initialWindowSize: 16 * 1024 * 1024, maxFrameSize: 1024 * 1024 },
      maxSessionMemory: 1024,
    });
    this.server.on('session', (s) => {
      this.sessions.add(s);
      // The connection-level window is not covered by initialWindowSize (it stays 64 KiB).
      s.once('connect', () => s.setLocalWindowSize(CONNECTION_WINDOW));
      s.on('close', () => this.sessions.delete(s));
      s.on('error', () => {}); // a broken connection ends its streams; nothing else to do
    });
    this.server.on('stream', (stream, headers) => this.onStream(stream, headers));
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => {});
    const ct = headers['content-type'] ?? '';
    if (headers[':method'] !== 'POST' || !ct.startsWith('application/grpc')) {
      stream.respond({ ':status': headers[':method'] !== 'POST' ? 405 : 415 }, { endStream: true });
      return;
    }
    const path = headers[':path'] ?? '';
    const handler = this.methods.get(path);
    const encoding = headers['grpc-encoding'] ?? 'identity';
    const timeoutMs = parseGrpcTimeout(headers['grpc-timeout'] as string | undefined);
    const ac = new AbortController();
    let done = false;
    const timer =
      timeoutMs === undefined ? undefined : setTimeout(() => fail(new GrpcError(status.DEADLINE_EXCEEDED, 'deadline exceeded')), timeoutMs);
    const fail = (e: GrpcError): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ac.abort();
      if (!stream.headersSent && !stream.destroyed) {
        stream.respond(
          {
            ':status': 200,
            'content-type': CONTENT_TYPE,
            'grpc-status': String(e.code),
            'grpc-message': encodeURIComponent(e.details),
            ...e.metadata,
          },
          { endStream: true },
        );
      }
      // Stop whatever the client is still sending (a refused oversized message).
      setImmediate(() => stream.destroyed || stream.close(http2.constants.NGHTTP2_NO_ERROR));
    };
    const succeed = (chunks: readonly Uint8Array[]): void => {
      if (done || stream.destroyed) return;
      const size = chunks.reduce((n, c) => n + c.byteLength, 0);
      if (size > this.opts.maxMessageBytes) {
        fail(new GrpcError(status.RESOURCE_EXHAUSTED, `response of ${size} bytes exceeds the limit of ${this.opts.maxMessageBytes} bytes`));
        return;
      }
      done = true;
      clearTimeout(timer);
      stream.respond({ ':status': 200, 'content-type': CONTENT_TYPE, 'grpc-accept-encoding': ACCEPT }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': '' }));
      stream.write(grpcPrefix(size));
      for (const c of chunks) stream.write(c);
      stream.end();
    };
    stream.once('close', () => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        ac.abort();
      }
    });
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

    const max = this.opts.maxMessageBytes;
    const head = Buffer.alloc(5);
    let headHave = 0;
    let body: Buffer | undefined;
    let have = 0;
    stream.on('data', (chunk: Buffer) => {
      if (done) return;
      let at = 0;
      if (headHave < 5) {
        at = chunk.copy(head, headHave, 0, Math.min(5 - headHave, chunk.length));
        headHave += at;
        if (headHave < 5) return;
        const len = head.readUInt32BE(1);
        if ((head[0] as number) > 1) return fail(new GrpcError(status.INTERNAL, `invalid compressed-flag byte ${head[0]}`));
        if (len > max) return fail(new GrpcError(status.RESOURCE_EXHAUSTED, `message of ${len} bytes exceeds the limit of ${max} bytes`));
        if (len === 0) body = Buffer.alloc(0);
      }
      if (at === chunk.length) return;
      if (!body) {
        // Placed by the first message bytes seen (the prefix often comes alone).
        const len = head.readUInt32BE(1);
        const align =
          head[0] === 0 && handler.alignField !== undefined ? fieldDataOffset(chunk.subarray(at), handler.alignField) : undefined;
        body = alignedBuffer(len, align ?? 0);
      }
      if (have + chunk.length - at > body.length) return fail(new GrpcError(status.UNIMPLEMENTED, 'more than one message in a unary call'));
      have += chunk.copy(body, have, at);
    });
    stream.on('end', () => {
      if (done) return;
      if (!body || have !== body.length) {
        fail(new GrpcError(status.INTERNAL, headHave === 0 ? 'no request message' : 'truncated request message'));
        return;
      }
      let msg = body;
      try {
        if (head[0] === 1) msg = decompress(body, encoding, max);
      } catch (err: unknown) {
        fail(err instanceof GrpcError ? err : new GrpcError(status.INTERNAL, `cannot decompress the message: ${(err as Error).message}`));
        return;
      }
      handler.handle(msg, { signal: ac.signal, timeoutMs }).then(
        (chunks) => succeed(chunks),
        (err: unknown) => {
          if (!(err instanceof GrpcError)) this.opts.onError?.(err);
          fail(err instanceof GrpcError ? err : new GrpcError(status.INTERNAL, (err as Error)?.message ?? String(err)));
        },
      );
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
      for (const s of this.sessions) s.close();
    });
  }
}

/**
 * The decompressed message, in memory of its own (handlers may transfer views of
 * it to a worker; zlib's result can be a slice of Node's shared small-buffer pool).
 */
function decompress(b: Buffer, encoding: string, max: number): Buffer {
  if (encoding === 'identity') throw new GrpcError(status.INTERNAL, 'compressed message without a grpc-encoding');
  try {
    const d = encoding === 'gzip' ? gunzipSync(b, { maxOutputLength: max }) : inflateSync(b, { maxOutputLength: max });
    if (d.byteOffset === 0 && d.byteLength === d.buffer.byteLength) return d;
    const own = alignedBuffer(d.length, 0);
    d.copy(own);
    return own;
  } catch (err: unknown) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new GrpcError(status.RESOURCE_EXHAUSTED, `decompressed message exceeds the limit of ${max} bytes`);
    }
    throw err;
  }
}
