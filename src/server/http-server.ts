import { refusedRequest } from '../observe/tracing.js';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Cancellation } from '../scheduling/cancel.js';
import type { Engine } from '../core/engine.js';
import { ModelpipeError, toModelpipeError } from '../errors/index.js';
import type { BodyBudget } from './body-budget.js';
import type { HttpFrontend, RequestContext } from './frontend.js';
import { GraphPipeFrontend, sendGraphPipeError } from './graphpipe-frontend.js';
import { type Logger, silentLogger } from '../observe/logger.js';
import { OipFrontend } from './oip-frontend.js';
import { sendText } from './respond.js';
import { settlesWithin } from './settles.js';
import { type ServerGuard, type ServerLimits, clientKey, createLimitedServer } from './server-limits.js';
import type { ServerTls } from './tls.js';
import type { TokenAuth } from './auth.js';

export interface HttpServerOptions {
  engine: Engine;
  /** Protocol frontends in the order they are tried (default: OIP under /v2, then GraphPipe); GraphPipe (catch-all) should come last. */
  frontends?: HttpFrontend[];
  logger?: Logger;
  /** Largest request body in bytes (default 65 MiB: 64 MiB of tensors and room for the envelope). */
  bodyLimit?: number;
  /** Default per-request timeout in ms. */
  timeoutMs?: number;
  /** Extra routes tried before the frontends (apps such as Classy's upload page). */
  routes?: ((req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => Promise<boolean> | boolean)[];
  /** Timeouts, connection cap, per-connection/per-client limits, body memory (see server-limits.ts for defaults). */
  limits?: Partial<ServerLimits>;
  /** Body memory budget shared with other listeners (default: one of limits.bodyMemoryBytes). */
  bodyBudget?: BodyBudget;
  /** On close, how long in-flight requests may take before they are answered MP_ERR_DRAIN_TIMEOUT (ms; 0: wait for all). */
  drainTimeoutMs?: number;
  /** HTTPS with this certificate (reloadable; see tls.ts). */
  tls?: ServerTls;
  /** Bearer tokens every route but health needs (see auth.ts). */
  auth?: TokenAuth;
  /** Readiness and /metrics for a whole server of several processes (see cli/cluster-worker.ts); default: this process's. */
  operations?: {
    ready(): boolean;
    metrics(): Promise<{ contentType: string; text: string }>;
  };
}

/**
 * 64 MiB of tensor data plus 1 MiB for the message around it (names, shapes, offsets),
 * so the obvious case, one 64 MiB tensor (a 67 109 000-byte request), fits.
 */
export const DEFAULT_BODY_LIMIT = 65 * 1024 * 1024;
/** Below Kubernetes' default 30 s grace period, so answers go out before SIGKILL. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 25_000;

const OPERATIONS = new Set(['/control/is_alive', '/health/live', '/control/is_ready', '/health/ready', '/metrics']);

/** A request's context: a class, so the lazy `signal` getter is on the prototype, not built per request. */
class Context implements RequestContext {
  traced = false;

  constructor(
    readonly id: string,
    readonly log: Logger,
    readonly engine: Engine,
    readonly cancel: Cancellation,
    readonly bodyLimit: number,
    readonly timeoutMs: number | undefined,
    readonly path: string,
    readonly startedAt: number,
  ) {}

  get signal(): AbortSignal {
    return this.cancel.signal;
  }
}

/**
 * The HTTP/1.1 server: keep-alive on node:http, operations endpoints, then the
 * protocol frontends. It never runs a model itself: inference goes through the
 * engine to worker threads, so health checks answer while models are busy.
 */
export class HttpServer {
  readonly server: Server;
  readonly guard: ServerGuard;
  private readonly frontends: HttpFrontend[];
  private readonly log: Logger;
  private nextId = 1;
  private readonly opts: HttpServerOptions;
  /** Requests being handled, so a drain deadline can answer and cancel them. */
  private readonly active = new Map<ServerResponse, Context>();
  private draining = false;
  /** Set by beginDrain: settles when the listener and every connection are closed. */
  private closed: Promise<void> | undefined;

  constructor(opts: HttpServerOptions) {
    this.opts = opts;
    this.log = opts.logger ?? silentLogger;
    this.frontends = opts.frontends ?? [new OipFrontend(), new GraphPipeFrontend()];
    const { server, guard } = createLimitedServer(
      {
        ...(opts.limits ? { limits: opts.limits } : {}),
        ...(opts.bodyBudget ? { budget: opts.bodyBudget } : {}),
        ...(opts.tls ? { tls: opts.tls } : {}),
        exempt: (req) => OPERATIONS.has(pathOf(req)),
        // A request with a valid token counts against its token; anonymous ones against their address.
        clientKey: (req) => {
          const entry = opts.auth?.authenticate(req.headers.authorization);
          return entry ? `token:${entry.identity}` : clientKey(req);
        },
        refuse: (req, res, e) => this.sendError(req, res, e, this.context(req, pathOf(req))),
      },
      (req, res) => void this.dispatch(req, res),
    );
    this.server = server;
    this.guard = guard;
  }

  get engine(): Engine {
    return this.opts.engine;
  }

  listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Requests being handled now (health probes included). */
  get inFlight(): number {
    return this.active.size;
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `${this.opts.tls ? 'https' : 'http'}://${host}:${a.port}`;
  }

  private context(req: IncomingMessage, path: string): Context {
    const id = (req.headers['x-request-id'] as string | undefined) ?? String(this.nextId++);
    return new Context(
      id,
      this.log,
      this.opts.engine,
      new Cancellation(),
      this.opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
      this.opts.timeoutMs,
      path,
      performance.now(),
    );
  }

  /**
   * Answers an error in the protocol of the route: `by`, the frontend that was handling
   * the request, or else the first that claims its path (refusals by limits, tokens or
   * the drain deadline, and app routes). With no such frontend, GraphPipe's text error.
   */
  private sendError(req: IncomingMessage, res: ServerResponse, e: ModelpipeError, ctx: Context, by?: HttpFrontend): void {
    const f = by ?? this.frontends.find((x) => x.claims(ctx.path));
    // Refused (limits, tokens), or failed reading or decoding its body: traced here, with its code.
    if (!ctx.traced) refusedRequest(req.headers, f?.name ?? 'graphpipe', e);
    if (f) f.sendError(req, res, e, ctx);
    else sendGraphPipeError(res, e, ctx, req.headers.accept);
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = pathOf(req);
    const ctx = this.context(req, path);
    const id = ctx.id;
    this.active.set(res, ctx);
    res.on('close', () => {
      this.active.delete(res);
      if (!res.writableFinished) ctx.cancel.cancel();
    });
    // While draining, each answer also closes its connection.
    if (this.draining) res.setHeader('connection', 'close');
    let handling: HttpFrontend | undefined;
    try {
      const refused = this.opts.auth?.admit(req, res, path);
      if (refused) {
        this.sendError(req, res, refused, ctx);
        return;
      }
      if (this.operations(req, res, path)) return;
      for (const r of this.opts.routes ?? []) if (await r(req, res, ctx)) return;
      for (const f of this.frontends) {
        handling = f;
        if (await f.handle(req, res, ctx)) return;
      }
      handling = undefined;
      sendText(res, 405, `method ${req.method} not allowed on ${path}\n`);
    } catch (err: unknown) {
      this.sendError(req, res, toModelpipeError(err), ctx, handling);
    } finally {
      if (this.log.isLevelEnabled('debug'))
        this.log.debug(
          { reqId: id, method: req.method, path, status: res.statusCode, ms: +(performance.now() - ctx.startedAt).toFixed(2) },
          'request',
        );
    }
  }

  /** Liveness, readiness (graphpipe-go's /control/* and the usual /health/*) and metrics. */
  private operations(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    switch (path) {
      case '/control/is_alive':
      case '/health/live':
        sendText(res, 200, 'ok\n');
        return true;
      case '/control/is_ready':
      case '/health/ready': {
        const ready = !this.draining && (this.opts.operations ? this.opts.operations.ready() : this.opts.engine.isReady());
        sendText(res, ready ? 200 : 503, ready ? 'ok\n' : 'not ready\n');
        return true;
      }
      case '/metrics':
        if (this.opts.operations)
          this.opts.operations.metrics().then(
            (m) => {
              res.writeHead(200, { 'content-type': m.contentType });
              res.end(m.text);
            },
            (err: Error) => sendText(res, 503, `${err.message}\n`),
          );
        else
          void this.opts.engine.metrics.text().then((text) => {
            res.writeHead(200, { 'content-type': this.opts.engine.metrics.registry.contentType });
            res.end(text);
          });
        return true;
      default:
        return false;
    }
  }

  /**
   * The first step of a graceful stop, at once: readiness answers 503 (balancers stop
   * choosing this server), the listener closes (new connections are refused, so clients
   * fail over), idle keep-alive connections close. Requests already accepted are still
   * served; `close()` waits for them. Idempotent.
   */
  beginDrain(): void {
    if (this.closed) return;
    this.draining = true;
    this.closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
  }

  /**
   * Graceful stop: `beginDrain`, then every request already accepted is answered (the
   * engine still takes them: a request still uploading at SIGTERM is served, not
   * refused), then the models close. Past drainTimeoutMs the requests still in progress
   * are answered MP_ERR_DRAIN_TIMEOUT and cancelled (queued work is dropped; a batch
   * already running on a model finishes, bounded by a short grace).
   */
  async close(): Promise<void> {
    this.beginDrain();
    // A response begun before the drain kept its connection alive; close such
    // connections as they go idle, so the listener's close completes.
    const sweep = setInterval(() => this.server.closeIdleConnections(), 50);
    const limit = this.opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    if (limit > 0 && (await settlesWithin(this.requestsAnswered(), limit)) === false) {
      this.cancelInFlight(limit);
      await settlesWithin(this.opts.engine.shutdown(), 5000);
    } else await this.opts.engine.shutdown();
    this.server.closeIdleConnections();
    const t = setTimeout(() => this.server.closeAllConnections(), 5000);
    await this.closed;
    clearInterval(sweep);
    clearTimeout(t);
  }

  /** Resolves once no request is being handled. */
  private async requestsAnswered(): Promise<void> {
    while (this.active.size > 0) await new Promise((r) => setTimeout(r, 10));
  }

  private cancelInFlight(limit: number): void {
    const left = [...this.active];
    this.log.warn({ requests: left.length, drainTimeoutMs: limit }, 'drain timeout: cancelling requests still in progress');
    for (const [res, ctx] of left) {
      const e = new ModelpipeError(
        'MP_ERR_DRAIN_TIMEOUT',
        `the server is stopping and did not finish this request within ${limit} ms; retry`,
      );
      if (!res.headersSent) res.setHeader('connection', 'close');
      this.sendError(res.req, res, e, ctx);
      ctx.cancel.cancel();
    }
  }
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0] ?? '/';
}
