import { Engine } from '../core/engine.js';
import { type ApplyFn, FunctionModel, type FunctionModelOptions } from '../models/function-model.js';
import type { Model } from '../models/model.js';
import type { SchedulerOptions } from '../scheduling/options.js';
import { HttpServer, type HttpServerOptions } from './http-server.js';

export interface ServeOptions extends Partial<Omit<HttpServerOptions, 'engine'>> {
  port?: number;
  host?: string;
  scheduler?: Partial<SchedulerOptions>;
}

export interface RunningServer {
  url: string;
  server: HttpServer;
  engine: Engine;
  close(): Promise<void>;
}

/** Serves one model over HTTP (GraphPipe by default) and resolves once it listens. */
export async function serveModel(model: Model, opts: ServeOptions = {}): Promise<RunningServer> {
  const engine = new Engine();
  engine.add(model.metadata.name, model, opts.scheduler ?? {});
  const server = new HttpServer({ ...opts, engine });
  await server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
  return { url: server.url, server, engine, close: () => server.close() };
}

/**
 * `serve(apply, {inputs, outputs, name})`: a TypeScript function as a GraphPipe model
 * server, the way graphpipe-go's gp.Serve turns a Go function into one.
 */
export function serve(apply: ApplyFn, opts: FunctionModelOptions & ServeOptions): Promise<RunningServer> {
  return serveModel(new FunctionModel(apply, opts), opts);
}
