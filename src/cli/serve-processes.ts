import { availableParallelism } from 'node:os';
import { DEFAULT_DRAIN_TIMEOUT_MS } from '../server/http-server.js';
import { createLogger } from '../observe/logger.js';
import { ClusterPrimary } from './cluster-primary.js';
import { limitsFromFlags } from '../flags/limit-flags.js';
import type { ServeValues } from './serve-flags.js';
import { heapFlag } from './relaunch.js';

/**
 * Runs the primary of `serve --processes N` until every worker has stopped, then
 * exits. main.ts does not relaunch itself for this command line: the primary
 * gives the workers the heap flag instead, so the tree is two levels deep.
 */
export async function runPrimary(v: ServeValues, processes: number): Promise<void> {
  const log = createLogger(v['log-level']);
  const flag = heapFlag();
  const primary = new ClusterPrimary({
    processes,
    log,
    execArgv: [...process.execArgv, ...(flag ? [flag] : [])],
    drainTimeoutMs: limitsFromFlags(v).drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
  });
  log.info({ processes, pid: process.pid }, `starting ${processes} server processes`);
  process.exit(await primary.exited);
}

/**
 * Default onnxruntime intra-op threads when several processes share the CPUs:
 * each process gets its share, divided among its instances (undefined for one
 * process: the model's own default applies).
 */
export function sharedThreads(processes: number, instances: number): number | undefined {
  if (processes <= 1) return undefined;
  return Math.max(1, Math.floor(availableParallelism() / processes / Math.max(1, instances)));
}
