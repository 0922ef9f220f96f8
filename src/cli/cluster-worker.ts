import cluster from 'node:cluster';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine } from '../core/engine.js';
import { ModelpipeError } from '../errors/index.js';
import { type ClusterMessage, isClusterMessage } from './cluster-protocol.js';

/** How long a /metrics request waits for the primary to merge every process's metrics. */
const METRICS_TIMEOUT_MS = 5_000;

/**
 * A worker's side of `serve --processes N`: /metrics answers for the whole
 * server (the primary merges every worker's metrics), /health/ready only when
 * every worker is ready, and each answer names the process that served it.
 */
export class ClusterWorker {
  private clusterReady = false;
  private nextId = 1;
  private readonly waiting = new Map<number, (m: Extract<ClusterMessage, { mp: 'metrics!' }>) => void>();
  private readonly pid = String(process.pid);

  constructor(private readonly engine: Engine) {
    process.on('message', (m: unknown) => {
      if (isClusterMessage(m)) this.onMessage(m);
    });
  }

  static active(): boolean {
    return cluster.isWorker;
  }

  private onMessage(m: ClusterMessage): void {
    if (m.mp === 'cluster-ready') this.clusterReady = m.ready;
    else if (m.mp === 'collect')
      void this.engine.metrics.registry.getMetricsAsJSON().then((json) => send({ mp: 'metrics', id: m.id, json }));
    else if (m.mp === 'metrics!') this.waiting.get(m.id)?.(m);
  }

  /** Tells the primary this process serves, at `url`. */
  announceReady(url: string): void {
    send({ mp: 'ready', url });
  }

  /** Readiness: this process's own, and every other's as the primary last said. */
  ready(): boolean {
    return this.clusterReady && this.engine.isReady();
  }

  /** The merged metrics text, from the primary. */
  metrics(): Promise<{ contentType: string; text: string }> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(id);
        reject(new ModelpipeError('MP_ERR_TIMEOUT', `the primary process did not merge the metrics within ${METRICS_TIMEOUT_MS} ms`));
      }, METRICS_TIMEOUT_MS);
      this.waiting.set(id, (m) => {
        clearTimeout(t);
        this.waiting.delete(id);
        if (m.text === undefined) reject(new ModelpipeError('MP_ERR_INTERNAL', m.error ?? 'metrics could not be merged'));
        else resolve({ contentType: m.contentType ?? 'text/plain', text: m.text });
      });
      send({ mp: 'metrics?', id });
    });
  }

  /** A route (tried before the frontends, never answering) that names this process on every answer. */
  readonly pidRoute = (_req: IncomingMessage, res: ServerResponse): boolean => {
    res.setHeader('x-modelpipe-pid', this.pid);
    return false;
  };
}

function send(m: ClusterMessage): void {
  if (process.connected) process.send?.(m, undefined, {}, (err: Error | null) => void err);
}
