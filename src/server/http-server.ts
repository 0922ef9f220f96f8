import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Cancellation } from '../core/cancel.js';
import type { Engine } from '../core/engine.js';
import { toModelpipeError } from '../errors/index.js';
import type { HttpFrontend, RequestContext } from './frontend.js';
import { GraphPipeFrontend, sendGraphPipeError } from './graphpipe-frontend.js';
import { type Logger, silentLogger } from './logger.js';
import { OipFrontend } from './oip-frontend.js';
import { sendText } from './respond.js';

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
}

/**
 * 64 MiB of tensor data plus 1 MiB for the message around it (names, shapes, offsets),
 * so the obvious case, one 64 MiB tensor (a 67 109 000-byte request), fits.
 */
export const DEFAULT_BODY_LIMIT = 65 * 1024 * 1024;

/** A request's context: a class, so the lazy `signal` getter is on the prototype, not built per request. */
class Context implements RequestContext {
  constructor(
    readonly id: string,
    readonly log: Logger,
    readonly engine: Engine,
    readonly cancel: Cancellation,
    readonly bodyLimit: number,
    readonly timeoutMs: number | undefined,
    readonly path: string,
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
  private readonly frontends: HttpFrontend[];
  private readonly log: Logger;
  private nextId = 1;
  private readonly opts: HttpServerOptions;

  constructor(opts: HttpServerOptions) {
    this.opts = opts;
    this.log = opts.logger ?? silentLogger;
    this.frontends = opts.frontends ?? [new OipFrontend(), new GraphPipeFrontend()];
    this.server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (req, res) => void this.dispatch(req, res));
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

  get url(): string {
    const a = this.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const id = (req.headers['x-request-id'] as string | undefined) ?? String(this.nextId++);
    const cancel = new Cancellation();
    res.on('close', () => {
      if (!res.writableFinished) cancel.cancel();
    });
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const ctx = new Context(id, this.log, this.opts.engine, cancel, this.opts.bodyLimit ?? DEFAULT_BODY_LIMIT, this.opts.timeoutMs, path);
    const t0 = performance.now();
    try {
      if (this.operations(req, res, path)) return;
      for (const r of this.opts.routes ?? []) if (await r(req, res, ctx)) return;
      for (const f of this.frontends) if (await f.handle(req, res, ctx)) return;
      sendText(res, 405, `method ${req.method} not allowed on ${path}\n`);
    } catch (err: unknown) {
      sendGraphPipeError(res, toModelpipeError(err), ctx, req.headers.accept);
    } finally {
      if (this.log.isLevelEnabled('debug'))
        this.log.debug(
          { reqId: id, method: req.method, path, status: res.statusCode, ms: +(performance.now() - t0).toFixed(2) },
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
        const ready = this.opts.engine.isReady();
        sendText(res, ready ? 200 : 503, ready ? 'ok\n' : 'not ready\n');
        return true;
      }
      case '/metrics':
        void this.opts.engine.metrics.text().then((text) => {
          res.writeHead(200, { 'content-type': this.opts.engine.metrics.registry.contentType });
          res.end(text);
        });
        return true;
      default:
        return false;
    }
  }

  /** Graceful stop: refuse new connections, finish in-flight requests, close models. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    await this.opts.engine.shutdown();
    this.server.closeIdleConnections();
    const t = setTimeout(() => this.server.closeAllConnections(), 5000);
    await closed;
    clearTimeout(t);
  }
}
