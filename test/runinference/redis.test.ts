import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { Redis } from 'ioredis';
import { redisStreamSink, startWorkers } from '../../src/runinference/index.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

let server: RedisServer | undefined;
let url = '';
let dir = '';
let redis: Redis;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runinf-redis-'));
  server = await startRedis(dir);
  url = server.url;
  redis = server.client;
});

after(async () => {
  server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('Redis Streams scale-out', () => {
  it('3 worker processes, one SIGKILLed mid-run: every input gives exactly one output row', { timeout: 60_000 }, async () => {
    const N = 500;
    const ids = new Map<string, number>();
    const pipe = redis.pipeline();
    for (let i = 0; i < N; i++) pipe.xadd('inputs', '*', 'data', JSON.stringify({ x: i }));
    for (const [i, r] of ((await pipe.exec()) ?? []).entries()) ids.set(r[1] as string, i);
    const dbPath = join(dir, 'out.db');
    const pipeline = join(dir, 'worker.json');
    const handler = fileURLToPath(new URL('../fixtures/runinference/slow-double.js', import.meta.url));
    await writeFile(
      pipeline,
      JSON.stringify({
        source: { type: 'redis', url, stream: 'inputs', group: 'workers', blockMs: 100, claimIdleMs: 1500, exitWhenDrained: true },
        handler: { type: 'module', path: handler },
        batching: { maxBatchSize: 4, maxWaitMs: 20 },
        sink: { type: 'sqlite', path: dbPath, table: 'outputs' },
        progress: false,
        summary: false,
      }),
    );
    const group = startWorkers(3, pipeline, { silent: true });
    const victim = group.workers[0] as ChildProcess;
    // Kill one worker once the run is well under way.
    const count = (): number => {
      try {
        const db = new Database(dbPath, { readonly: true, timeout: 5000 });
        const n = (db.prepare('SELECT count(*) AS n FROM outputs').get() as { n: number }).n;
        db.close();
        return n;
      } catch {
        return 0; // table not created yet
      }
    };
    const t0 = Date.now();
    while (count() < 100) {
      assert.ok(Date.now() - t0 < 30_000, 'workers made no progress');
      await new Promise((r) => setTimeout(r, 50));
    }
    // Kill the victim while it holds taken-but-unacked entries: those are what must be
    // reclaimed. Read before the kill: after it, the supervisor's prompt takeover may
    // already have moved them to the survivors.
    const victimName = `${hostname()}-${victim.pid}`;
    const heldNow = async (): Promise<number> => {
      const pending = (await redis.xpending('inputs', 'workers')) as [number, string, string, [string, string][] | null];
      return Number(pending[3]?.find(([c]) => c === victimName)?.[1] ?? 0);
    };
    while ((await heldNow()) === 0) {
      assert.ok(Date.now() - t0 < 30_000, `victim ${victimName} never held pending entries`);
      await new Promise((r) => setTimeout(r, 5));
    }
    victim.kill('SIGKILL');
    const exits = await group.wait();
    assert.equal(exits[0]?.signal, 'SIGKILL');
    for (const e of exits.slice(1)) assert.equal(e.code, 0, JSON.stringify(e));

    const db = new Database(dbPath, { readonly: true });
    const rows = db.prepare('SELECT key, model_id, inference FROM outputs').all() as { key: string; model_id: string; inference: string }[];
    db.close();
    assert.equal(rows.length, N, 'one row per input');
    assert.equal(new Set(rows.map((r) => r.key)).size, N, 'no duplicate keys');
    for (const r of rows) {
      const x = ids.get(r.key);
      assert.ok(x !== undefined, `row for unknown id ${r.key}`);
      assert.equal(Number(r.inference), 2 * x);
      assert.equal(r.model_id, 'slow-double');
    }
    const after = (await redis.xpending('inputs', 'workers')) as [number];
    assert.equal(Number(after[0]), 0, 'everything acked');
  });

  it('the Redis stream sink writes an id once, even when the same item is written again', async () => {
    const sink = redisStreamSink<{ id: string; v: number }>({ url, stream: 'results', idOf: (x) => x.id });
    await sink.write([
      { id: 'a', v: 1 },
      { id: 'b', v: 2 },
    ]);
    await sink.write([
      { id: 'a', v: 1 },
      { id: 'c', v: 3 },
    ]);
    await sink.close();
    const entries = await redis.xrange('results', '-', '+');
    assert.deepEqual(
      entries.map(([, kv]) => kv[1]),
      ['a', 'b', 'c'],
    );
  });
});
