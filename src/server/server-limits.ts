import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ModelpipeError } from '../errors/index.js';
import { BodyBudget, setBodyBudget } from './body-budget.js';
import { errorHeaders } from './respond.js';
import { type ServerTls, createHttpServer } from './tls.js';

/**
 * What one HTTP/1 listening socket lets a client hold: time, connections, requests
 * and body memory. Every modelpipe HTTP/1 server (HttpServer, hence the Classy stage
 * servers and the batcher, and RunInference's HTTP source) is made by
 * `createLimitedServer`, so none can be held open by a slow or greedy client.
 */
export interface ServerLimits {
  /** Time to receive a request's headers, in ms (slowloris). */
  headersTimeoutMs: number;
  /** Time to receive a whole request, headers and body, in ms (0: none). Stops a body trickled a byte at a time. */
  requestTimeoutMs: number;
  /** Longest pause in a body the server is waiting for, in ms (0: none). Pauses the server asked for (backpressure) do not count. */
  bodyIdleTimeoutMs: number;
  /** Idle keep-alive connections are closed after this, in ms. */
  keepAliveTimeoutMs: number;
  /** Open connections; a connection beyond it is answered 503 and closed (0: no cap). */
  maxConnections: number;
  /** Requests in progress on one connection (HTTP/1.1 pipelining); more are answered 429 (0: no limit). */
  maxInFlightPerConnection: number;
  /** Requests in progress per client (see `clientKey`); more are answered 429 with Retry-After (0: no limit). */
  maxInFlightPerClient: number;
  /** Memory held by unfinished request bodies, all connections together; a body beyond it is answered 503 (0: no cap). */
  bodyMemoryBytes: number;
}

/**
 * Defaults: far above what a healthy client needs, far below what exhausts the host
 * (file descriptors, memory). Keep-alive stays above common load balancers' 60 s idle
 * timeout, so they close first and never reuse a connection we are closing.
 */
export const DEFAULT_SERVER_LIMITS: Readonly<ServerLimits> = {
  headersTimeoutMs: 30_000,
  requestTimeoutMs: 300_000,
  bodyIdleTimeoutMs: 30_000,
  keepAliveTimeoutMs: 65_000,
  maxConnections: 10_000,
  maxInFlightPerConnection: 64,
  maxInFlightPerClient: 0,
  bodyMemoryBytes: 1024 * 1024 * 1024,
};

/**
 * Who an anonymous request counts against for `maxInFlightPerClient`: its peer address.
 * Behind a proxy every request shares that address, so leave the limit off there or
 * give clients tokens: `HttpServer` counts a request with a valid token against the
 * token (`token:<identity>`).
 */
export function clientKey(req: IncomingMessage): string {
  return `addr:${req.socket.remoteAddress ?? 'unknown'}`;
}

export interface LimitedServerOptions {
  limits?: Partial<ServerLimits>;
  /** Shared with other listeners (e.g. the gRPC transport) so one cap covers them all. */
  budget?: BodyBudget;
  clientKey?: (req: IncomingMessage) => string;
  /** Requests exempt from the per-connection and per-client limits (health probes). */
  exempt?: (req: IncomingMessage) => boolean;
  /** HTTPS with this certificate (reloadable; see tls.ts). */
  tls?: ServerTls;
  /** Writes a refusal in the surface's own error format (default: JSON `{error, code}`). */
  refuse?: (req: IncomingMessage, res: ServerResponse, e: ModelpipeError) => void;
}

/** `createServer` with `limits` applied; requests reach `handler` only once admitted. */
export function createLimitedServer(
  opts: LimitedServerOptions,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): { server: Server; guard: ServerGuard } {
  const l = { ...DEFAULT_SERVER_LIMITS, ...opts.limits };
  const headers = l.headersTimeoutMs;
  // Node requires headersTimeout <= requestTimeout, and checks both on one interval.
  const request = l.requestTimeoutMs > 0 ? Math.max(l.requestTimeoutMs, headers) : 0;
  const tightest = Math.min(...[headers, request].filter((t) => t > 0), 120_000);
  // The guard exists once the server does; no request can arrive before listen().
  let guard: ServerGuard | undefined;
  const server = createHttpServer(
    opts.tls,
    {
      headersTimeout: headers,
      requestTimeout: request,
      keepAliveTimeout: l.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.max(25, Math.min(5_000, Math.floor(tightest / 4))),
    },
    (req: IncomingMessage, res: ServerResponse) => {
      if (guard?.admit(req, res)) handler(req, res);
    },
  );
  guard = new ServerGuard(server, l, opts);
  return { server, guard };
}

const REFUSED = Symbol('modelpipe.refusedConnection');
const IN_FLIGHT = Symbol('modelpipe.inFlight');
type GuardedSocket = Socket & { [REFUSED]?: boolean; [IN_FLIGHT]?: number };

interface Arriving {
  req: IncomingMessage;
  res: ServerResponse;
  bytes: number;
  since: number;
}

/** The limits' bookkeeping for one server: counts connections, requests per client, arriving bodies. */
export class ServerGuard {
  readonly budget: BodyBudget;
  private open = 0;
  private readonly perClient = new Map<string, number>();
  private readonly arriving = new Set<Arriving>();
  private readonly sweeper: NodeJS.Timeout | undefined;
  private readonly keyOf: (req: IncomingMessage) => string;

  constructor(
    readonly server: Server,
    readonly limits: ServerLimits,
    private readonly opts: LimitedServerOptions = {},
  ) {
    this.budget = opts.budget ?? new BodyBudget(limits.bodyMemoryBytes);
    this.keyOf = opts.clientKey ?? clientKey;
    // Ahead of node's own listener, so a refused socket is answered before anything else.
    server.prependListener('connection', (s: Socket) => this.onConnection(s));
    if (limits.bodyIdleTimeoutMs > 0) {
      const every = Math.max(25, Math.min(1_000, Math.floor(limits.bodyIdleTimeoutMs / 4)));
      this.sweeper = setInterval(() => this.sweep(), every).unref();
      server.once('close', () => clearInterval(this.sweeper));
    }
  }

  /** Open connections (refused ones excluded). */
  get connections(): number {
    return this.open;
  }

  /** Requests in progress for one client key. */
  inFlightFor(key: string): number {
    return this.perClient.get(key) ?? 0;
  }

  private onConnection(socket: GuardedSocket): void {
    if (this.limits.maxConnections > 0 && this.open >= this.limits.maxConnections) {
      socket[REFUSED] = true;
      const e = new ModelpipeError('MP_ERR_TOO_MANY_CONNECTIONS', `the server has ${this.open} connections open, its limit; retry later`);
      socket.end(rawResponse(e));
      // A peer that never closes its side must not keep the descriptor.
      setTimeout(() => socket.destroy(), 2_000).unref();
      return;
    }
    this.open++;
    socket.once('close', () => this.open--);
  }

  /** Counts a request in; false when a limit refused it (already answered). */
  admit(req: IncomingMessage, res: ServerResponse): boolean {
    const socket = req.socket as GuardedSocket;
    if (socket[REFUSED]) return false; // answered 503 at connect
    setBodyBudget(req, this.budget);
    if (this.limits.bodyIdleTimeoutMs > 0 && !req.complete && hasBody(req)) this.watchBody(req, res);
    if (this.opts.exempt?.(req)) return true;
    const { maxInFlightPerConnection: perConnMax, maxInFlightPerClient: perClientMax } = this.limits;
    const perConn = (socket[IN_FLIGHT] ?? 0) + 1;
    if (perConnMax > 0 && perConn > perConnMax) {
      const e = new ModelpipeError('MP_ERR_CONNECTION_LIMIT', `more than ${perConnMax} requests in progress on one connection`);
      this.refuse(req, res, e);
      return false;
    }
    // Clients are counted only when that limit is on: the common path stays one counter.
    const key = perClientMax > 0 ? this.keyOf(req) : undefined;
    if (key !== undefined) {
      const perClient = (this.perClient.get(key) ?? 0) + 1;
      if (perClient > perClientMax) {
        this.refuse(req, res, new ModelpipeError('MP_ERR_CLIENT_LIMIT', `more than ${perClientMax} requests in progress for this client`));
        return false;
      }
      this.perClient.set(key, perClient);
    }
    socket[IN_FLIGHT] = perConn;
    res.once('close', () => {
      socket[IN_FLIGHT] = (socket[IN_FLIGHT] ?? 1) - 1;
      if (key === undefined) return;
      const n = (this.perClient.get(key) ?? 1) - 1;
      if (n <= 0) this.perClient.delete(key);
      else this.perClient.set(key, n);
    });
    return true;
  }

  private refuse(req: IncomingMessage, res: ServerResponse, e: ModelpipeError): void {
    if (this.opts.refuse) this.opts.refuse(req, res, e);
    else if (!res.headersSent) {
      res.writeHead(e.status, { 'content-type': 'application/json', ...errorHeaders(e) });
      res.end(JSON.stringify({ error: e.message, code: e.code }));
    }
  }

  private watchBody(req: IncomingMessage, res: ServerResponse): void {
    const a: Arriving = { req, res, bytes: req.socket.bytesRead, since: performance.now() };
    this.arriving.add(a);
    const done = (): void => void this.arriving.delete(a);
    req.once('end', done);
    res.once('close', done);
  }

  /**
   * Times out bodies that made no progress for bodyIdleTimeoutMs while the server was
   * waiting for them. A socket the server paused (the handler reads slowly) is not idle.
   */
  private sweep(): void {
    const now = performance.now();
    for (const a of this.arriving) {
      const socket = a.req.socket;
      if (a.req.complete || socket.destroyed) {
        this.arriving.delete(a);
        continue;
      }
      const bytes = socket.bytesRead;
      if (bytes !== a.bytes || socket.isPaused() || a.req.readableLength >= a.req.readableHighWaterMark) {
        a.bytes = bytes;
        a.since = now;
        continue;
      }
      if (now - a.since < this.limits.bodyIdleTimeoutMs) continue;
      this.arriving.delete(a);
      const e = new ModelpipeError('MP_ERR_BODY_TIMEOUT', `no request body bytes for ${this.limits.bodyIdleTimeoutMs} ms`);
      this.refuse(a.req, a.res, e);
      // Destroying the request aborts its readers (their memory goes back to the budget)
      // and closes the socket; after the refusal is flushed, or at once if it cannot be.
      const abort = (): void => void a.req.destroy();
      if (a.res.writableFinished || !a.res.headersSent) abort();
      else {
        a.res.once('finish', abort);
        setTimeout(abort, 1_000).unref();
      }
    }
  }
}

/** Whether a request announced a body (a length above 0, or chunked). */
function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return (len !== undefined && len !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** A whole HTTP/1.1 response as bytes, for a socket refused before node parses anything. */
function rawResponse(e: ModelpipeError): string {
  const body = JSON.stringify({ error: e.message, code: e.code });
  const headers = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    ...errorHeaders(e),
    connection: 'close',
  };
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
  return `HTTP/1.1 ${e.status} Service Unavailable\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}
