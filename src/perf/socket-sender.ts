import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { RemoteError } from '../client/errors.js';
import { ModelpipeError } from '../errors/index.js';
import { type HttpReply, ResponseParser, type ResponseLimits } from './http1-response.js';

export const SOCKET_LIMITS: ResponseLimits = { maxHeaderBytes: 64 * 1024, maxBodyBytes: 512 * 1024 * 1024 };

/** One request in flight on a connection. */
interface Pending {
  bytes: Buffer;
  signal: AbortSignal;
  startedMs: number;
  /** Sent once already on a reused connection that closed before answering. */
  retried: boolean;
  resolve(r: HttpReply): void;
  reject(e: unknown): void;
}

/**
 * perf's HTTP/1.1 load path: one keep-alive socket per request in flight (never
 * pipelined), each request's head and body encoded once into one buffer and written
 * with one write, answers read by a small parser (http1-response.ts). Against a fast
 * server undici's per-request machinery made perf the bottleneck (bench/perf-wrk.ts);
 * this does per request one write, one promise and the parse. Timeouts are checked by
 * one sweep timer instead of a timer per request; the stop signal is watched once per
 * signal, not once per request.
 */
export class SocketSender {
  readonly #host: string;
  readonly #port: number;
  readonly #tls: boolean;
  readonly #idle: Conn[] = [];
  /** Requests waiting for a connection (all `connections` busy). */
  #waiting: Pending[] = [];
  readonly #busy = new Set<Conn>();
  readonly #watched = new WeakSet<AbortSignal>();
  readonly #sweep: NodeJS.Timeout;
  #open = 0;
  #closed = false;

  constructor(
    readonly url: string,
    private readonly connections: number,
    readonly timeoutMs: number,
    readonly limits: ResponseLimits = SOCKET_LIMITS,
    /** https: extra TLS options (a CA, for one). */
    private readonly tlsOptions: ConnectionOptions = {},
  ) {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ModelpipeError('MP_ERR_BAD_CONFIG', `not an http(s) URL: ${url}`);
    this.#tls = u.protocol === 'https:';
    this.#host = u.hostname.replace(/^\[|\]$/g, '');
    this.#port = Number(u.port || (this.#tls ? 443 : 80));
    this.#sweep = setInterval(() => this.#expire(), Math.max(5, Math.min(1000, timeoutMs / 4))).unref();
  }

  post(path: string, headers: Record<string, string>, body: Uint8Array): (signal: AbortSignal) => Promise<HttpReply> {
    const bytes = this.encode(path, headers, body);
    return (signal) => this.send(bytes, signal);
  }

  /** A request's bytes: `POST path` with these headers and body, Host and Content-Length added. */
  encode(path: string, headers: Record<string, string>, body: Uint8Array): Buffer {
    let head = `POST ${path} HTTP/1.1\r\nhost: ${new URL(this.url).host}\r\ncontent-length: ${body.length}\r\n`;
    for (const [k, v] of Object.entries(headers)) {
      if (/[\r\n]/.test(k + v)) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `header ${k}: line breaks are not allowed`);
      head += `${k}: ${v}\r\n`;
    }
    return Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), body]);
  }

  /** Sends encoded request bytes and resolves with the answer, whatever its status. */
  send(bytes: Buffer, signal: AbortSignal): Promise<HttpReply> {
    if (this.#closed) return Promise.reject(new RemoteError('MP_ERR_CLIENT_CLOSED', `${this.url}: sender closed`, { url: this.url }));
    if (signal.aborted) return Promise.reject(this.#error('MP_ERR_CANCELLED', 'request aborted'));
    this.#watch(signal);
    return new Promise<HttpReply>((resolve, reject) => {
      const p: Pending = { bytes, signal, startedMs: performance.now(), retried: false, resolve, reject };
      const idle = this.#idle.pop();
      if (idle) this.#start(idle, p);
      else if (this.#open < this.connections) this.#start(this.#connect(), p);
      else this.#waiting.push(p);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweep);
    for (const c of [...this.#idle, ...this.#busy]) this.#drop(c, this.#error('MP_ERR_CLIENT_CLOSED', 'sender closed'));
    for (const p of this.#waiting.splice(0)) p.reject(this.#error('MP_ERR_CLIENT_CLOSED', 'sender closed'));
  }

  #connect(): Conn {
    this.#open++;
    const socket = this.#tls
      ? tlsConnect({ ...this.tlsOptions, host: this.#host, port: this.#port, ...(isIP(this.#host) ? {} : { servername: this.#host }) })
      : tcpConnect({ host: this.#host, port: this.#port });
    socket.setNoDelay(true);
    const c = new Conn(socket, this.limits);
    socket.on('data', (chunk: Buffer) => this.#data(c, chunk));
    socket.on(this.#tls ? 'secureConnect' : 'connect', () => {
      c.connected = true;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      c.error = err;
    });
    socket.on('close', () => this.#closedSocket(c));
    return c;
  }

  #start(c: Conn, p: Pending): void {
    c.pending = p;
    c.parser = new ResponseParser(this.limits);
    this.#busy.add(c);
    c.socket.write(p.bytes);
  }

  #data(c: Conn, chunk: Buffer): void {
    const p = c.pending;
    if (!p) {
      // bytes nobody asked for: the connection is unusable
      this.#drop(c, undefined);
      return;
    }
    let done: boolean;
    try {
      done = c.parser.feed(chunk);
    } catch (err: unknown) {
      this.#drop(c, new RemoteError('MP_ERR_BAD_RESPONSE', `${this.url}: ${(err as Error).message}`, { url: this.url, cause: err }));
      return;
    }
    if (!done) return;
    c.pending = undefined;
    c.used = true;
    this.#busy.delete(c);
    const reply = c.parser.reply();
    if (c.parser.keepAlive) this.#release(c);
    else this.#drop(c, undefined);
    p.resolve(reply);
  }

  #closedSocket(c: Conn): void {
    const p = c.pending;
    this.#forget(c);
    if (!p) return;
    c.pending = undefined;
    if (c.parser.end()) {
      p.resolve(c.parser.reply());
      return;
    }
    // A kept-alive socket the server closed as we reused it: send once more on a fresh one.
    if (c.used && !c.parser.started && !p.retried && !this.#closed) {
      p.retried = true;
      this.#start(this.#connect(), p);
      return;
    }
    const e = c.error;
    if (!c.connected) {
      p.reject(this.#error('MP_ERR_CONNECT', `cannot reach server (${e?.code ?? e?.message ?? 'closed'})`, e));
      return;
    }
    p.reject(
      this.#error('MP_ERR_REMOTE_CLOSED', 'the server closed the connection without answering (it may have crashed on this request)', e),
    );
  }

  #release(c: Conn): void {
    const next = this.#waiting.shift();
    if (next) this.#start(c, next);
    else this.#idle.push(c);
  }

  /** Closes a connection; its request, if any, fails with `err`. */
  #drop(c: Conn, err: unknown): void {
    const p = c.pending;
    c.pending = undefined;
    this.#forget(c);
    c.socket.destroy();
    if (p) p.reject(err);
  }

  #forget(c: Conn): void {
    if (c.gone) return;
    c.gone = true;
    this.#open--;
    this.#busy.delete(c);
    const i = this.#idle.indexOf(c);
    if (i >= 0) this.#idle.splice(i, 1);
    // A waiter gets a fresh connection in place of the one that went.
    const next = this.#closed ? undefined : this.#waiting.shift();
    if (next) this.#start(this.#connect(), next);
  }

  #watch(signal: AbortSignal): void {
    if (this.#watched.has(signal)) return;
    this.#watched.add(signal);
    signal.addEventListener(
      'abort',
      () => {
        // The waiting first: dropping a busy socket hands its place to the next waiter.
        const gone = this.#waiting.filter((p) => p.signal === signal);
        this.#waiting = this.#waiting.filter((p) => p.signal !== signal);
        for (const p of gone) p.reject(this.#error('MP_ERR_CANCELLED', 'request aborted'));
        for (const c of [...this.#busy])
          if (c.pending?.signal === signal) this.#drop(c, this.#error('MP_ERR_CANCELLED', 'request aborted'));
      },
      { once: true },
    );
  }

  #expire(): void {
    const late = performance.now() - this.timeoutMs;
    for (const c of [...this.#busy]) {
      if (c.pending && c.pending.startedMs < late) this.#drop(c, this.#error('MP_ERR_TIMEOUT', `no answer within ${this.timeoutMs} ms`));
    }
  }

  #error(
    code: 'MP_ERR_CANCELLED' | 'MP_ERR_TIMEOUT' | 'MP_ERR_CONNECT' | 'MP_ERR_REMOTE_CLOSED' | 'MP_ERR_CLIENT_CLOSED',
    what: string,
    cause?: unknown,
  ) {
    return new RemoteError(code, `${this.url}: ${what}`, { url: this.url, ...(cause !== undefined ? { cause } : {}) });
  }
}

class Conn {
  pending: Pending | undefined;
  parser: ResponseParser;
  error: NodeJS.ErrnoException | undefined;
  /** Answered at least once: a close before any answer byte may be the keep-alive race. */
  used = false;
  connected = false;
  gone = false;

  constructor(
    readonly socket: Socket,
    limits: ResponseLimits,
  ) {
    this.parser = new ResponseParser(limits);
  }
}
