/**
 * `npm run bench -- streams [--entries N] [--kills K] [--workers W] [--squeezenet-entries M]
 *  [--claim-idle-ms MS] [--kill-every-ms MS] [--poison P] [--max-deliveries D] [--http-records R] [--only redis|http]`
 *
 * RunInference streams under faults (see bench/streams/chaos.ts): a real redis-server with
 * AOF, W worker processes under `modelpipe run --workers`'s supervisor, a random worker
 * SIGKILLed every few seconds K times, redis-server SHUTDOWN and restarted once, poison
 * entries that kill their worker. Scenarios: a function model into SQLite (with the Redis
 * restart), the same into PostgreSQL (when available), squeezenet into SQLite at a
 * smaller count. Then the HTTP source: R records (default 5 000) POSTed with a SIGTERM in the
 * middle (bench/streams/http-load.ts). Prints tables and a final JSON line; exits 1 if any
 * check fails.
 * Full scale (the defaults): 100 000 entries, 10 kills.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPg } from '../test/runinference/pg-server.js';
import { type ChaosResult, runChaos } from './streams/chaos.js';
import { type HttpLoadResult, runHttpLoad } from './streams/http-load.js';
import { startAofRedis } from './streams/redis-aof.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} must be a number >= 0`);
  return v;
};

export interface Row {
  scenario: string;
  r: ChaosResult;
}

export function ok(r: ChaosResult, poison: number): boolean {
  const c = r.check;
  return (
    c.missing === 0 &&
    c.duplicates === 0 &&
    c.goodDeadLettered === 0 &&
    c.poisonDeadLettered === poison &&
    c.deadRows === poison &&
    r.pending === 0 &&
    r.in === r.written + r.dead
  );
}

export async function run(): Promise<void> {
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
  let good = true;
  if (only !== 'http') good = (await redisScenarios()) && good;
  if (only !== 'redis') good = (await httpScenario()) && good;
  if (!good) process.exitCode = 1;
}

async function httpScenario(): Promise<boolean> {
  const records = arg('http-records', 5000);
  const dir = await mkdtemp(join(tmpdir(), 'bench-streams-http-'));
  let r: HttpLoadResult;
  try {
    r = await runHttpLoad({ dir, records, perRequest: 50, concurrency: 4 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const good = r.lost === 0 && r.unconfirmed === 0 && r.accepted + r.refused === r.records && r.exitCode === 0 && r.summary;
  console.log(`\nHTTP source, ${records} records in POSTs of 50 (4 at a time), SIGTERM after half`);
  console.log(
    '| records | accepted (2xx) | refused (non-2xx) | in sink | accepted but lost | in sink unconfirmed | exit | summary | s | ok |',
  );
  console.log(
    '|---------|----------------|-------------------|---------|-------------------|---------------------|------|---------|---|----|',
  );
  console.log(
    `| ${r.records} | ${r.accepted} | ${r.refused} | ${r.inSink} | ${r.lost} | ${r.unconfirmed} | ${r.exitCode} | ${r.summary ? 'yes' : 'no'} | ${r.seconds.toFixed(1)} | ${good ? 'yes' : 'NO'} |`,
  );
  console.log(JSON.stringify({ bench: 'streams-http', ...r, ok: good }));
  return good;
}

async function redisScenarios(): Promise<boolean> {
  const entries = arg('entries', 100_000);
  const kills = arg('kills', 10);
  const workers = arg('workers', 3);
  const sqEntries = arg('squeezenet-entries', 2000);
  const claimIdleMs = arg('claim-idle-ms', 10_000);
  const killEveryMs = arg('kill-every-ms', 3000);
  const poison = arg('poison', 3);
  const maxDeliveries = arg('max-deliveries', 3);
  const dir = await mkdtemp(join(tmpdir(), 'bench-streams-'));
  const redis = await startAofRedis(dir);
  const pg = await startPg();
  const rows: Row[] = [];
  const log = (l: string) => process.stderr.write(l);
  try {
    const common = { redis, dir, workers, killEveryMs, poison, claimIdleMs, maxDeliveries, log };
    rows.push({
      scenario: 'function → SQLite, redis restart',
      r: await runChaos({
        ...common,
        stream: 'fn-sqlite',
        entries,
        kills,
        restartRedis: true,
        handler: 'double',
        sink: { type: 'sqlite', path: join(dir, 'fn.db') },
      }),
    });
    if (typeof pg === 'string') log(`PostgreSQL scenario skipped: ${pg}\n`);
    else {
      rows.push({
        scenario: 'function → PostgreSQL',
        r: await runChaos({
          ...common,
          stream: 'fn-pg',
          entries,
          kills,
          restartRedis: false,
          handler: 'double',
          sink: { type: 'postgres', url: pg.url },
        }),
      });
    }
    if (sqEntries > 0)
      rows.push({
        scenario: 'squeezenet → SQLite',
        r: await runChaos({
          ...common,
          stream: 'sq-sqlite',
          entries: sqEntries,
          kills: Math.ceil(kills / 2),
          restartRedis: false,
          handler: 'squeezenet',
          sink: { type: 'sqlite', path: join(dir, 'sq.db') },
        }),
      });
  } finally {
    redis.stop();
    if (typeof pg !== 'string') await pg.stop();
    await rm(dir, { recursive: true, force: true });
  }
  print(rows, { workers, claimIdleMs, killEveryMs, poison, maxDeliveries });
  return rows.every((x) => ok(x.r, poison));
}

function print(rows: Row[], o: { workers: number; claimIdleMs: number; killEveryMs: number; poison: number; maxDeliveries: number }): void {
  const ms = (xs: number[]) => (xs.length === 0 ? '-' : `${Math.round(median(xs))} / ${Math.max(...xs)}`);
  const head = [
    'scenario',
    'entries',
    's',
    'entries/s',
    'kills',
    'restarts',
    'reprocessed',
    'in = out + dead',
    'missing',
    'poison DL',
    'good DL',
    'pending',
    'death→finished ms (median / max)',
    'ok',
  ];
  const body = rows.map(({ scenario, r }) => [
    scenario,
    String(r.entries),
    r.seconds.toFixed(1),
    r.perSecond.toFixed(0),
    String(r.kills),
    String(r.restarts),
    String(r.reprocessed),
    `${r.in} = ${r.written} + ${r.dead}`,
    String(r.check.missing),
    `${r.check.poisonDeadLettered}/${o.poison}`,
    String(r.check.goodDeadLettered),
    String(r.pending),
    ms(r.deathToFinishedMs),
    ok(r, o.poison) ? 'yes' : 'NO',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(w[i] as number)).join(' | ')} |`;
  console.log(
    `\nRunInference streams under faults (${o.workers} workers, claimIdleMs ${o.claimIdleMs}, maxDeliveries ${o.maxDeliveries}, a kill every ${o.killEveryMs} ms)`,
  );
  console.log(line(head));
  console.log(`|${w.map((x) => '-'.repeat(x + 2)).join('|')}|`);
  for (const b of body) console.log(line(b));
  console.log(JSON.stringify({ bench: 'streams', ...o, rows: rows.map(({ scenario, r }) => ({ scenario, ...r, ok: ok(r, o.poison) })) }));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}
