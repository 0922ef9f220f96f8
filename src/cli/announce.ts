import cluster from 'node:cluster';
import { RegistryAnnouncer } from '../client/endpoints/registry-announcer.js';
import { type AnnounceValues, advertisedUrl } from '../flags/announce-flags.js';
import type { Logger } from '../observe/logger.js';

/**
 * Announces a server that is ready (`--announce`), returning what to `leave()` on
 * SIGTERM before draining; undefined without --announce, and in a worker of
 * `serve --processes N` (the primary announces the shared port once).
 * A server told to announce that cannot is closed and the error thrown: running
 * unannounced would leave a replica that no client finds.
 */
export async function announceServer(
  v: AnnounceValues,
  serverUrl: string,
  log: Logger,
  close: () => Promise<void>,
): Promise<RegistryAnnouncer | undefined> {
  if (v.announce === undefined || cluster.isWorker) return undefined;
  try {
    return await RegistryAnnouncer.start({
      registry: v.announce,
      url: advertisedUrl(v, serverUrl),
      log,
      ...(v['announce-ttl'] !== undefined ? { ttlMs: v['announce-ttl'] } : {}),
    });
  } catch (err: unknown) {
    await close();
    throw err;
  }
}
