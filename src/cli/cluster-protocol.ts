/** IPC messages between the primary and the workers of `serve --processes N` (see cluster-primary.ts). */
export type ClusterMessage =
  /** worker → primary: its server listens (at `url`: what --announce advertises by default) and its models are loaded. */
  | { mp: 'ready'; url?: string }
  /** worker → primary: merge everyone's metrics for a /metrics request. */
  | { mp: 'metrics?'; id: number }
  /** primary → worker: the merged text (or why not). */
  | { mp: 'metrics!'; id: number; text?: string; contentType?: string; error?: string }
  /** primary → worker: send your metrics (prom-client JSON). */
  | { mp: 'collect'; id: number }
  /** worker → primary: its metrics. */
  | { mp: 'metrics'; id: number; json: unknown }
  /** primary → worker: whether every process is ready. */
  | { mp: 'cluster-ready'; ready: boolean };

export function isClusterMessage(m: unknown): m is ClusterMessage {
  return typeof m === 'object' && m !== null && typeof (m as { mp?: unknown }).mp === 'string';
}
