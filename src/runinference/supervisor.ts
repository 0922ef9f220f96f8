import type { ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { compactJsonlByKey } from './jsonl-compact.js';
import type { PipelineDef } from './pipeline-def.js';
import { heartbeatKey } from './redis-claim.js';
import { connect } from './redis-streams.js';
import { EXIT_BAD_DEFINITION, type WorkerExit, type WorkerOptions, startWorker } from './scaleout.js';
import { type RunCounts, formatRunCounts, runCounts, streamCounts } from './stream-counts.js';

/**
 * `modelpipe run --workers N`: keeps N worker processes on a Redis stream until each has
 * exited 0 (its source drained) or the supervisor is told to stop (SIGTERM/SIGINT, passed
 * on to the workers, which finish what they took). A worker that dies is restarted after a
 * back-off (250 ms doubling to 5 s; reset once a worker has lived 10 s), up to maxRestarts
 * in all. The entries a dead worker held are taken over by the others (redis-claim.ts).
 * The counts come from the stream (stream-counts.ts), not from the workers.
 */
export interface SuperviseOptions extends WorkerOptions {
  workers: number;
  pipelinePath: string;
  def: PipelineDef & { source: { type: 'redis' } };
  /** Restarts allowed in all before the run gives up. Default 100. */
  maxRestarts?: number;
  /** Called with each worker process started (benchmarks kill them). */
  onWorker?: (child: ChildProcess) => void;
  /** Where the summary goes; default stderr. */
  log?: (line: string) => void;
}

export interface SuperviseReport {
  counts: RunCounts;
  restarts: number;
  /** Workers that failed for good (restart budget spent) or exited with an error at the end. */
  failed: WorkerExit[];
  /** Duplicate JSONL lines removed from file sinks at the end. */
  duplicatesRemoved: number;
}

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5000;
const HEALTHY_MS = 10_000;

export async function supervise(o: SuperviseOptions): Promise<SuperviseReport> {
  const log = o.log ?? ((l: string) => process.stderr.write(l));
  const src = o.def.source;
  const redis = connect(src.url);
  const live = new Set<ChildProcess>();
  let stopping = false;
  let restarts = 0;
  let wake: (() => void) | undefined;
  const stop = (): void => {
    stopping = true;
    for (const c of live) c.kill('SIGTERM');
    wake?.();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const failed: WorkerExit[] = [];
  try {
    const before = await streamCounts(redis, src.stream, src.group);
    const slot = async (): Promise<void> => {
      let backoff = BACKOFF_MIN_MS;
      for (;;) {
        const t0 = Date.now();
        const w = startWorker(o.pipelinePath, o);
        live.add(w.child);
        o.onWorker?.(w.child);
        const exit = await w.exit;
        live.delete(w.child);
        if (exit.code !== 0) void forgetConsumer(redis, src, exit.pid); // not awaited: Redis may be restarting
        if (exit.code === 0 || stopping) {
          if (exit.code !== 0 && exit.signal !== 'SIGTERM') failed.push(exit);
          return;
        }
        if (exit.code === EXIT_BAD_DEFINITION) {
          failed.push(exit);
          log(`worker ${exit.pid}: the pipeline definition is wrong (see its error); not restarting\n`);
          return;
        }
        if (restarts >= (o.maxRestarts ?? 100)) {
          failed.push(exit);
          log(`worker ${exit.pid}: ${describeExit(exit)}; restart budget (${o.maxRestarts ?? 100}) spent\n`);
          return;
        }
        restarts++;
        if (Date.now() - t0 > HEALTHY_MS) backoff = BACKOFF_MIN_MS;
        log(`worker ${exit.pid}: ${describeExit(exit)}; restarting in ${backoff} ms\n`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, backoff);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
        backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
        if (stopping) return;
      }
    };
    await Promise.all(Array.from({ length: o.workers }, slot));
    let duplicatesRemoved = 0;
    for (const s of [o.def.sink, o.def.deadLetter]) if (s?.type === 'jsonl') duplicatesRemoved += await compactJsonlByKey(s.path);
    const counts = runCounts(before, await streamCounts(redis, src.stream, src.group));
    log(formatRunCounts(counts, o.workers, restarts));
    return { counts, restarts, failed, duplicatesRemoved };
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    await redis.quit().catch(() => {});
  }
}

/** A dead worker's heartbeat, deleted so that the others take over its entries now. */
async function forgetConsumer(r: ReturnType<typeof connect>, src: SuperviseOptions['def']['source'], pid: number): Promise<void> {
  if (src.consumer !== undefined) return; // a fixed name: its next life takes its entries back
  // Redis may be down (restarting): the heartbeat then simply expires.
  await r.del(heartbeatKey(src.stream, src.group, `${hostname()}-${pid}`)).catch(() => {});
}

export function describeExit(e: WorkerExit): string {
  const r = e.result as { error?: { code: string; message: string } } | undefined;
  if (r?.error) return `${r.error.code}: ${r.error.message}`;
  return e.signal ? `killed by ${e.signal}` : `exit status ${e.code}`;
}
