import http2 from 'node:http2';
import { status } from '@grpc/grpc-js';
import { grpcPrefix } from '../protocol/oip/index.js';
import { endOutgoing, outgoingTrace } from '../observe/outgoing-trace.js';
import type { TraceContext } from '../observe/tracing.js';
import type { TransportFailure } from './errors.js';

/**
 * A lean gRPC unary transport over node:http2 (the client half of modelpipe's
 * OIP gRPC support). grpc-js's client costs several times undici's CPU per
 * byte (measured in bench/oip: ~15 ms vs ~2.5 ms for a 9.6 MB request), so the
 * client frames messages itself: the 5-byte length prefix, then the message as
 * the caller's chunks, written without joining them (a raw tensor is sent from
 * its own memory). Responses are collected into one buffer of the announced
 * length. Speaks plain gRPC (PROTOCOL-HTTP2.md): any gRPC server works, and the
 * tests run it against grpc-js's server, an independent implementation.
 */

/** A call that ended with a gRPC status other than OK (or never got one). */
export class GrpcStatusError extends Error {
  constructor(
    readonly code: status,
    readonly details: string,
    /** Response headers and trailers (custom metadata such as x-modelpipe-error). */
    readonly metadata: Readonly<Record<string, string>> = {},
    /** The connection failed under the call (see RemoteError.failure); undefined for an answer. */
    readonly failure?: TransportFailure | undefined,
    /** The HTTP status of an answer that was not gRPC (a proxy's 503), else undefined. */
    readonly httpStatus?: number | undefined,
  ) {
    super(`${status[code] ?? code}: ${details}`);
    this.name = 'GrpcStatusError';
  }
}

export interface UnaryOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** The trace context the call continues (a model run's: RunRequest.trace); absent = the one a synchronous model run set. */
  trace?: TraceContext | undefined;
  /** Largest response message accepted, in bytes. */
  maxReceiveBytes: number;
}

/** HTTP status → gRPC status for answers that are not gRPC at all (the spec's table). */
function statusOfHttp(code: number): status {
  if (code === 400) return status.INTERNAL;
  if (code === 401) return status.UNAUTHENTICATED;
  if (code === 403) return status.PERMISSION_DENIED;
  if (code === 404) return status.UNIMPLEMENTED;
  if (code === 429 || code === 502 || code === 503 || code === 504) return status.UNAVAILABLE;
  return status.UNKNOWN;
}

function headerString(v: string | string[] | number | undefined): string | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : String(v);
}

/** The grpc-timeout header: at most 8 digits and a unit. */
function grpcTimeout(ms: number): string {
  const m = Math.max(1, Math.ceil(ms));
  return m < 1e8 ? `${m}m` : `${Math.min(99_999_999, Math.ceil(m / 1000))}S`;
}

/** grpc-message is percent-encoded; a malformed one is shown as sent. */
function percentDecoded(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** TLS and extra request headers (a bearer token) for a channel. */
export interface ChannelOptions {
  /** h2 over TLS (grpcs://) rather than cleartext h2c. */
  secure?: boolean;
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer };
  headers?: Readonly<Record<string, string>>;
}

/** Sessions that got as far as connecting: a call failing on one was sent, not refused. */
const connected = new WeakSet<http2.ClientHttp2Session>();

/** One HTTP/2 connection to `host:port`, opened on first use and reopened after it closes. */
export class GrpcChannel {
  private session: http2.ClientHttp2Session | undefined;
  private inFlight = 0;
  /** What close() runs once no call is in flight. */
  private readonly idle: (() => void)[] = [];

  constructor(
    readonly authority: string,
    private readonly options: ChannelOptions = {},
  ) {}

  private connect(): http2.ClientHttp2Session {
    const s = this.session;
    if (s && !s.closed && !s.destroyed) return s;
    const fresh = http2.connect(`${this.options.secure ? 'https' : 'http'}://${this.authority}`, {
      ...(this.options.secure ? this.options.tls : {}),
      // Large tensors: a wide flow-control window avoids a round trip per 64 KiB.
      settings: { initialWindowSize: 16 * 1024 * 1024 },
    });
    fresh.on('error', () => {}); // reported per stream; without a listener it would throw
    // initialWindowSize covers streams; the connection's own window stays 64 KiB unless widened.
    // (Not on a session already destroyed: that throws, and from an event handler it would end the process.)
    fresh.once('connect', () => {
      connected.add(fresh);
      if (!fresh.destroyed) fresh.setLocalWindowSize(64 * 1024 * 1024);
    });
    const forget = (): void => {
      if (this.session === fresh) this.session = undefined;
    };
    fresh.once('close', forget);
    fresh.once('goaway', forget);
    // Never keeps the process alive by itself: a call in flight does, through its deadline timer.
    fresh.unref();
    this.session = fresh;
    return fresh;
  }

  /** Sends one framed message to `path` and resolves with the response message. */
  unary(path: string, message: readonly Uint8Array[], opts: UnaryOptions): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      let session: http2.ClientHttp2Session;
      // traceparent of the request being served (or of this call's span), as gRPC metadata.
      const traced = outgoingTrace('POST', `${this.options.secure ? 'grpcs' : 'grpc'}://${this.authority}${path}`, opts.trace);
      try {
        session = this.connect();
        stream = session.request({
          ':method': 'POST',
          ':path': path,
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-timeout': grpcTimeout(opts.timeoutMs),
          'user-agent': 'modelpipe-grpc/0.1',
          ...this.options.headers,
          ...traced?.headers,
        });
      } catch (err: unknown) {
        endOutgoing(traced, undefined, err);
        reject(new GrpcStatusError(status.UNAVAILABLE, (err as Error).message, {}, 'connect'));
        return;
      }
      /** How the connection failed under this call: never up, or lost before (or after) the answer began. */
      const lost = (): TransportFailure => (!connected.has(session) ? 'connect' : reply.started ? 'closed-late' : 'closed');
      this.inFlight++;
      const reply = new UnaryReply(opts.maxReceiveBytes);
      let settled = false;
      const finish = (err: GrpcStatusError | undefined, value?: Buffer): void => {
        if (settled) return;
        settled = true;
        this.callEnded();
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        endOutgoing(traced, undefined, err);
        if (err) {
          if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
          reject(err);
        } else resolve(value as Buffer);
      };
      const timer = setTimeout(
        () => finish(new GrpcStatusError(status.DEADLINE_EXCEEDED, `no answer within ${opts.timeoutMs} ms`)),
        opts.timeoutMs,
      );
      const onAbort = (): void => finish(new GrpcStatusError(status.CANCELLED, 'call cancelled by the caller'));
      if (opts.signal?.aborted) {
        onAbort();
        return;
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      stream.on('response', (h) => reply.headers(h));
      stream.on('trailers', (h) => reply.headers(h));
      stream.on('data', (chunk: Buffer) => {
        const err = settled ? undefined : reply.data(chunk);
        if (err) finish(err);
      });
      stream.on('error', (err: Error) => finish(new GrpcStatusError(status.UNAVAILABLE, err.message, {}, lost())));
      stream.on('close', () => {
        if (!settled) finish(reply.failure(lost), reply.message());
      });
      stream.write(grpcPrefix(message.reduce((n, c) => n + c.byteLength, 0)));
      for (const c of message) stream.write(c);
      stream.end();
    });
  }

  /** Closes the connection once its calls in flight have ended (new calls reopen one). */
  close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (!s || s.closed || s.destroyed) return Promise.resolve();
    // Held open while closing: an unref'd session would let the process exit before the close() promise settles.
    s.ref();
    return new Promise<void>((resolve) => {
      const shut = (): void => {
        if (s.closed || s.destroyed) resolve();
        else s.close(() => resolve());
      };
      // Calls in flight (even one still waiting for the connection) finish first: a
      // session closed under them sends GOAWAY, and the server may refuse their streams.
      if (this.inFlight === 0) shut();
      else this.idle.push(shut);
    });
  }

  private callEnded(): void {
    this.inFlight--;
    if (this.inFlight === 0) for (const f of this.idle.splice(0)) f();
  }
}

/**
 * One unary call's answer as it arrives: status and metadata from the headers and
 * trailers, and the single response message behind its 5-byte prefix, collected into
 * one buffer of the announced length.
 */
class UnaryReply {
  readonly meta: Record<string, string> = {};
  private httpStatus = 0;
  private grpcStatus: number | undefined;
  private grpcMessage = '';
  private readonly head = Buffer.alloc(5);
  private headHave = 0;
  private body: Buffer | undefined;
  private bodyHave = 0;

  constructor(private readonly maxReceiveBytes: number) {}

  /** Whether any of the answer has arrived. */
  get started(): boolean {
    return this.httpStatus !== 0;
  }

  headers(h: http2.IncomingHttpHeaders): void {
    const st = h[':status'];
    if (st !== undefined) this.httpStatus = Number(st);
    for (const [k, v] of Object.entries(h)) {
      const s = headerString(v);
      if (!k.startsWith(':') && s !== undefined) this.meta[k] = s;
    }
    const code = headerString(h['grpc-status']);
    if (code !== undefined) this.grpcStatus = Number(code);
    const msg = headerString(h['grpc-message']);
    if (msg !== undefined) this.grpcMessage = percentDecoded(msg);
  }

  /** Takes a chunk of the response; an error when the answer cannot be accepted. */
  data(chunk: Buffer): GrpcStatusError | undefined {
    let at = 0;
    if (this.headHave < 5) {
      const n = Math.min(5 - this.headHave, chunk.length);
      chunk.copy(this.head, this.headHave, 0, n);
      this.headHave += n;
      at = n;
      if (this.headHave < 5) return undefined;
      if (this.head[0] !== 0) return new GrpcStatusError(status.INTERNAL, 'compressed response, but no compression was offered');
      const len = this.head.readUInt32BE(1);
      if (len > this.maxReceiveBytes)
        return new GrpcStatusError(status.RESOURCE_EXHAUSTED, `response of ${len} bytes exceeds the limit of ${this.maxReceiveBytes}`);
      this.body = Buffer.allocUnsafeSlow(len); // memory of its own: tensors decoded from it may be views
    }
    if (!this.body) return undefined;
    const n = chunk.copy(this.body, this.bodyHave, at);
    this.bodyHave += n;
    if (at + n < chunk.length) return new GrpcStatusError(status.UNIMPLEMENTED, 'more than one response message in a unary call');
    return undefined;
  }

  /** Once the stream closed: why the call failed, or undefined when it succeeded. */
  failure(lost: () => TransportFailure): GrpcStatusError | undefined {
    const { httpStatus, grpcStatus, body, meta } = this;
    if (httpStatus === 0) return new GrpcStatusError(status.UNAVAILABLE, 'connection closed before an answer', meta, lost());
    if (httpStatus !== 200 && grpcStatus === undefined)
      return new GrpcStatusError(statusOfHttp(httpStatus), `HTTP status ${httpStatus}`, meta, undefined, httpStatus);
    if (grpcStatus === undefined) return new GrpcStatusError(status.INTERNAL, 'the call ended without a grpc-status', meta);
    if (grpcStatus !== status.OK) return new GrpcStatusError(grpcStatus, this.grpcMessage, meta);
    if (!body || this.bodyHave !== body.length)
      return new GrpcStatusError(status.INTERNAL, body ? 'truncated response message' : 'OK without a response message', meta);
    return undefined;
  }

  message(): Buffer | undefined {
    return this.body;
  }
}
