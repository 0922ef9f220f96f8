import { availableParallelism } from 'node:os';
import { DEFAULT_DRAIN_TIMEOUT_MS } from '../server/http-server.js';
import { createLogger } from '../observe/logger.js';
import { ClusterPrimary } from './cluster-primary.js';
import { limitsFromFlags } from '../flags/limit-flags.js';
import type { ServeValues } from './serve-flags.js';
import { heapFlag } from './relaunch.js';
import type { RegistryAnnouncer } from '../client/endpoints/registry-announcer.js';
import type { Logger } from '../observe/logger.js';
import { announceServer } from './announce.js';

/**
 * Runs the primary of `serve --processes N` until every worker has stopped, then
 * exits. main.ts does not relaunch itself for this command line: the primary
 * gives the workers the heap flag instead, so the tree is two levels deep.
 */
export async function runPrimary(v: ServeValues, processes: number): Promise<void> {
  const log = createLogger(v['log-level']);
  const flag = heapFlag();
  let announcement: Promise<RegistryAnnouncer | undefined> | undefined;
  const primary: ClusterPrimary = new ClusterPrimary({
    processes,
    log,
    execArgv: [...process.execArgv, ...(flag ? [flag] : [])],
    drainTimeoutMs: limitsFromFlags(v).drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
    // The processes share one port: the primary announces it once, when all of them serve.
    onReady: (url) => {
      announcement = announceFailing(
        announceServer(v, url, log, async () => primary.stop('cannot announce', 1)),
        log,
      );
    },
    beforeDrain: async () => (await announcement)?.leave(),
  });
  log.info({ processes, pid: process.pid }, `starting ${processes} server processes`);
  process.exit(await primary.exited);
}

/** The announcer, or undefined once its failure is logged (the primary is then stopping). */
async function announceFailing(p: Promise<RegistryAnnouncer | undefined>, log: Logger): Promise<RegistryAnnouncer | undefined> {
  try {
    return await p;
  } catch (err: unknown) {
    log.error({ err: (err as Error).message }, (err as Error).message);
    return undefined;
  }
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
