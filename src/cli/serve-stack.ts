import type { Engine } from '../core/engine.js';
import type { ModelRepository } from '../repository/index.js';
import { GraphPipeFrontend } from '../server/graphpipe-frontend.js';
import { DEFAULT_BODY_LIMIT, HttpServer } from '../server/http-server.js';
import type { Logger } from '../observe/logger.js';
import type { ServerLimits } from '../server/server-limits.js';
import type { LabelSource } from '../server/oip-classification.js';
import { OipFrontend } from '../server/oip-frontend.js';
import type { GrpcLimits } from '../server/grpc-transport.js';
import { OipGrpcServer } from '../server/oip-grpc-server.js';
import { RepositoryFrontend } from '../server/repository-frontend.js';
import type { TokenAuth } from '../server/auth.js';
import type { ServerTls } from '../server/tls.js';
import { listenAddress } from '../flags/args.js';
import { ClusterWorker } from './cluster-worker.js';
import { reloadOnSighup, warnIfExposed } from '../flags/security-flags.js';

export interface Stack {
  http: HttpServer;
  grpc: OipGrpcServer | undefined;
  close(): Promise<void>;
}

/**
 * Starts what `modelpipe serve` exposes over one engine: HTTP (repository control,
 * OIP REST, GraphPipe last as the catch-all) and, with --grpc-listen, OIP gRPC.
 */
export async function startServeStack(o: {
  engine: Engine;
  repository?: ModelRepository;
  log: Logger;
  listen: string | undefined;
  grpcListen: string | undefined;
  bodyLimit: number | undefined;
  grpcMaxMessage: number | undefined;
  grpcLimits?: GrpcLimits;
  timeoutMs: number | undefined;
  limits?: Partial<ServerLimits>;
  drainTimeoutMs?: number;
  tls?: ServerTls;
  auth?: TokenAuth;
  labels?: LabelSource;
}): Promise<Stack> {
  const directory = { ...(o.repository ? { directory: o.repository } : {}), ...(o.labels ? { labels: o.labels } : {}) };
  const security = { ...(o.tls ? { tls: o.tls } : {}), ...(o.auth ? { auth: o.auth } : {}) };
  // One of `serve --processes N`: health and metrics answer for all of them.
  const worker = ClusterWorker.active() ? new ClusterWorker(o.engine) : undefined;
  const http = new HttpServer({
    ...(worker ? { operations: worker, routes: [worker.pidRoute] } : {}),
    engine: o.engine,
    logger: o.log,
    frontends: [...(o.repository ? [new RepositoryFrontend(o.repository)] : []), new OipFrontend(directory), new GraphPipeFrontend()],
    ...(o.bodyLimit !== undefined ? { bodyLimit: o.bodyLimit } : {}),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.limits !== undefined ? { limits: o.limits } : {}),
    ...(o.drainTimeoutMs !== undefined ? { drainTimeoutMs: o.drainTimeoutMs } : {}),
    ...security,
  });
  let grpc: OipGrpcServer | undefined;
  if (o.grpcListen !== undefined) {
    grpc = new OipGrpcServer({
      engine: o.engine,
      ...directory,
      logger: o.log,
      maxMessageBytes: o.grpcMaxMessage ?? o.bodyLimit ?? DEFAULT_BODY_LIMIT,
      ...(o.grpcLimits ? { limits: o.grpcLimits } : {}),
      ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
      ...security,
    });
    const g = listenAddress(o.grpcListen);
    warnIfExposed(g.host, security, o.log, 'gRPC');
    await grpc.listen(g.port, g.host);
    o.log.info({ grpc: grpc.address }, `OIP gRPC on ${o.tls ? 'grpcs' : 'grpc'}://${grpc.address}`);
  }
  const { host, port } = listenAddress(o.listen);
  warnIfExposed(host, security, o.log, 'HTTP');
  await http.listen(port, host);
  reloadOnSighup(security, o.log);
  worker?.announceReady(http.url);
  return {
    http,
    grpc,
    close: async () => {
      // Readiness fails and new HTTP connections are refused at once, not after gRPC drained.
      http.beginDrain();
      o.repository?.stopPolling();
      await grpc?.close();
      await http.close();
    },
  };
}
