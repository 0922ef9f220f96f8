import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { validatePipelineDef } from '../../src/runinference/pipeline-def.js';
import { supervise } from '../../src/runinference/supervisor.js';
import type { AofRedis } from './redis-aof.js';
import { type SinkCheck, checkSinks } from './sink-check.js';

/**
 * The streams proof: N entries on a real Redis stream (AOF on), W worker processes under
 * the supervisor, a worker SIGKILLed every `killEveryMs` (restarted by the supervisor),
 * redis-server itself SHUTDOWN and started again once, poison entries that kill whoever
 * runs them. Checked at the end, from the sinks: every good entry has exactly one output
 * row, every poison entry exactly one dead letter, nothing pending, in = out + dead.
 */
export interface ChaosOptions {
  redis: AofRedis;
  dir: string;
  entries: number;
  workers: number;
  kills: number;
  killEveryMs: number;
  poison: number;
  restartRedis: boolean;
  handler: 'double' | 'squeezenet';
  sink: { type: 'sqlite'; path: string } | { type: 'postgres'; url: string };
  claimIdleMs: number;
  /**
   * Crashes running alone before a poison entry is dead-lettered (an outside SIGKILL of a
   * worker holding several entries charges none of them, see redis-takeover.ts).
   */
  maxDeliveries: number;
  stream: string;
  log?: (l: string) => void;
}

export interface ChaosResult {
  entries: number;
  seconds: number;
  perSecond: number;
  restarts: number;
  kills: number;
  /** Entries run again after their worker died (taken over). */
  reprocessed: number;
  exhausted: number;
  in: number;
  written: number;
  dead: number;
  pending: number;
  check: SinkCheck;
  /** Per kill: ms from SIGKILL until every entry the victim held was finished elsewhere. */
  deathToFinishedMs: number[];
}

const handlers = fileURLToPath(new URL('./handlers.js', import.meta.url));

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const log = o.log ?? (() => {});
  const r = o.redis.client;
  const ids: string[] = [];
  const poisonIds = new Set<string>();
  const poisonAt = new Set(Array.from({ length: o.poison }, (_, i) => Math.floor(((i + 0.5) * o.entries) / o.poison)));
  for (let base = 0; base < o.entries; base += 1000) {
    const p = r.pipeline();
    for (let i = base; i < Math.min(o.entries, base + 1000); i++) {
      p.xadd(o.stream, '*', 'data', JSON.stringify(poisonAt.has(i) ? { x: i, crash: true } : { x: i }));
    }
    for (const [k, [, id]] of ((await p.exec()) ?? []).entries()) {
      ids.push(id as string);
      if (poisonAt.has(base + k)) poisonIds.add(id as string);
    }
  }
  const sinkDef = o.sink.type === 'sqlite' ? { type: 'sqlite', path: o.sink.path } : { type: 'postgres', url: o.sink.url };
  const def = validatePipelineDef({
    source: {
      type: 'redis',
      url: o.redis.url,
      stream: o.stream,
      group: 'g',
      blockMs: 200,
      claimIdleMs: o.claimIdleMs,
      maxDeliveries: o.maxDeliveries,
      exitWhenDrained: true,
    },
    handler:
      o.handler === 'double'
        ? { type: 'module', path: handlers, export: 'double' }
        : { type: 'module', path: handlers, export: 'squeezenet' },
    model_config: { max_batch_size: o.handler === 'double' ? 64 : 8, dynamic_batching: { max_queue_delay_microseconds: 20_000 } },
    sink: { ...sinkDef, table: 'out' },
    deadLetter: { ...sinkDef, table: 'dead' },
    progress: false,
    summary: false,
  });
  const path = join(o.dir, `${o.stream}.json`);
  await writeFile(path, JSON.stringify(def));

  const live = new Set<ChildProcess>();
  const deaths: Promise<number | undefined>[] = [];
  let kills = 0;
  let done = false;
  const chaos = (async () => {
    for (let k = 0; k < o.kills && !done; k++) {
      await sleep(o.killEveryMs);
      if (o.restartRedis && k === Math.floor(o.kills / 2)) {
        log('redis SHUTDOWN and restart\n');
        await o.redis.restart(1000);
      }
      const victim = await pickVictim(r, o.stream, live, () => done);
      if (!victim) continue;
      const t0 = Date.now();
      victim.kill('SIGKILL');
      kills++;
      deaths.push(finishedElsewhere(r, o.stream, `${hostname()}-${victim.pid}`, t0, log));
    }
  })();
  const t0 = Date.now();
  const rep = await supervise({
    workers: o.workers,
    pipelinePath: path,
    def: def as never,
    silent: true,
    maxRestarts: 1000,
    onWorker: (c) => {
      live.add(c);
      c.once('exit', () => live.delete(c));
    },
    log,
  });
  const seconds = (Date.now() - t0) / 1000;
  done = true;
  await chaos;
  const deathToFinishedMs = (await Promise.all(deaths)).filter((x): x is number => x !== undefined);
  const check = await checkSinks(o.sink, ids, poisonIds);
  return {
    entries: o.entries,
    seconds,
    perSecond: o.entries / seconds,
    restarts: rep.restarts,
    kills,
    reprocessed: rep.counts.claimed,
    exhausted: rep.counts.exhausted,
    in: rep.counts.in,
    written: rep.counts.written,
    dead: rep.counts.dead,
    pending: rep.counts.pending,
    check,
    deathToFinishedMs,
  };
}

/** Ms from t0 until no entry the consumer held is still pending (undefined if it held none). */
async function finishedElsewhere(
  r: Redis,
  stream: string,
  consumer: string,
  t0: number,
  log: (l: string) => void,
): Promise<number | undefined> {
  let held: string[] = [];
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      held = ((await r.xpending(stream, 'g', '-', '+', 100_000, consumer)) as [string][]).map(([id]) => id);
      break;
    } catch {
      await sleep(200); // redis restarting
    }
  }
  log(`killed ${consumer}, holding ${held.length} entries\n`);
  if (held.length === 0) return undefined; // it held nothing (killed while starting, or idle)
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    try {
      const p = r.pipeline();
      for (const id of held) p.xpending(stream, 'g', id, id, 1);
      const res = (await p.exec()) ?? [];
      held = held.filter((_, i) => ((res[i]?.[1] as unknown[]) ?? []).length > 0);
      if (held.length === 0) return Date.now() - t0;
    } catch {
      // redis restarting: try again
    }
    await sleep(100);
  }
  return undefined;
}

/**
 * A random live worker that has started reading (it is a consumer of the group): killing
 * a process still loading modules proves nothing. Whether it holds entries is left to chance.
 */
async function pickVictim(r: Redis, stream: string, live: Set<ChildProcess>, stop: () => boolean): Promise<ChildProcess | undefined> {
  while (!stop()) {
    try {
      const consumers = (await r.xinfo('CONSUMERS', stream, 'g')) as unknown[][];
      const names = new Set(consumers.map((c) => String(c[1])));
      const alive = [...live].filter((c) => c.exitCode === null && c.signalCode === null && names.has(`${hostname()}-${c.pid}`));
      if (alive.length > 0) return alive[Math.floor(Math.random() * alive.length)];
    } catch {
      // redis restarting
    }
    await sleep(100);
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
