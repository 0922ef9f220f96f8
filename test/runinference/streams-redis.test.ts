import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { Redis } from 'ioredis';
import { validatePipelineDef } from '../../src/runinference/index.js';
import type { PipelineDef } from '../../src/runinference/pipeline-def.js';
import { supervise } from '../../src/runinference/supervisor.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

let server: RedisServer | undefined;
let dir = '';
let redis: Redis;
const handler = fileURLToPath(new URL('../fixtures/runinference/double-or-crash.js', import.meta.url));

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runinf-streams-'));
  server = await startRedis(dir);
  redis = server.client;
});

after(async () => {
  server?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function pipeline(name: string, source: Record<string, unknown>): Promise<{ path: string; def: PipelineDef }> {
  const def = validatePipelineDef({
    source: { type: 'redis', url: server?.url, stream: name, group: 'g', blockMs: 100, exitWhenDrained: true, ...source },
    handler: { type: 'module', path: handler },
    batching: { maxBatchSize: 4, maxWaitMs: 20 },
    sink: { type: 'sqlite', path: join(dir, `${name}.db`), table: 'out' },
    deadLetter: { type: 'jsonl', path: join(dir, `${name}-dead.jsonl`) },
    progress: false,
    summary: false,
  });
  const path = join(dir, `${name}.json`);
  await writeFile(path, JSON.stringify(def));
  return { path, def };
}

async function add(stream: string, data: string[]): Promise<void> {
  const p = redis.pipeline();
  for (const d of data) p.xadd(stream, '*', 'data', d);
  await p.exec();
}

function rows(db: string): { key: string; inference: string }[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare('SELECT key, inference FROM out').all() as { key: string; inference: string }[];
  } finally {
    d.close();
  }
}

async function deadLines(path: string): Promise<{ key: string; code: string }[]> {
  const text = await readFile(path, 'utf8');
  assert.ok(!text.includes('\0'), 'dead-letter file holds NUL bytes (workers truncated each other)');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { key: string; code: string });
}

describe('Redis streams with several workers (defects 1, 2, 7, 9)', () => {
  it('2 workers over 60 good and 3 bad entries: each processed, counted and dead-lettered once', { timeout: 60_000 }, async () => {
    const good = Array.from({ length: 60 }, (_, i) => JSON.stringify({ x: i }));
    await add('s1', [...good.slice(0, 20), 'not json', ...good.slice(20, 40), '[1,', ...good.slice(40), '{oops']);
    // A short claimIdleMs: before the fix, entries idle in a live worker's window were reclaimed.
    const { path, def } = await pipeline('s1', { claimIdleMs: 1500 });
    const logs: string[] = [];
    const r = await supervise({ workers: 2, pipelinePath: path, def: def as never, silent: true, log: (l) => logs.push(l) });
    assert.deepEqual(r.failed, []);
    assert.equal(r.counts.in, 63, logs.join(''));
    assert.equal(r.counts.written, 60);
    assert.equal(r.counts.dead, 3);
    assert.equal(r.counts.claimed, 0, 'entries of live workers were taken over');
    assert.equal(r.counts.pending, 0);
    const out = rows(join(dir, 's1.db'));
    assert.equal(out.length, 60);
    assert.deepEqual(
      out.map((o) => Number(o.inference)).sort((a, b) => a - b),
      Array.from({ length: 60 }, (_, i) => 2 * i),
    );
    const dead = await deadLines(join(dir, 's1-dead.jsonl'));
    assert.equal(dead.length, 3, JSON.stringify(dead));
    assert.equal(new Set(dead.map((d) => d.key)).size, 3);
    assert.match(logs.join(''), /63 entries in = 60 written \+ 3 dead letters;/);
  });

  it('workers whose pipeline file is wrong are not restarted: the run ends with them failed', { timeout: 60_000 }, async () => {
    const { path, def } = await pipeline('s0', {});
    // The supervisor's copy is fine; the file the workers read is not (a typo in model_config).
    const raw = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    await writeFile(path, JSON.stringify({ ...raw, model_config: { max_batch_size: 'sixteen' } }));
    const logs: string[] = [];
    const r = await supervise({ workers: 2, pipelinePath: path, def: def as never, silent: true, log: (l) => logs.push(l) });
    assert.equal(r.restarts, 0, logs.join(''));
    assert.equal(r.failed.length, 2, logs.join(''));
    assert.ok(
      r.failed.every((f) => f.code === 78),
      JSON.stringify(r.failed),
    );
  });

  it('a poison entry that kills its worker is dead-lettered unrun after maxDeliveries; the rest is written', {
    timeout: 90_000,
  }, async () => {
    const good = Array.from({ length: 24 }, (_, i) => JSON.stringify({ x: i }));
    await add('s2', [...good.slice(0, 10), JSON.stringify({ x: 99, crash: true }), ...good.slice(10)]);
    const { path, def } = await pipeline('s2', { claimIdleMs: 1000, maxDeliveries: 3 });
    const logs: string[] = [];
    const r = await supervise({ workers: 2, pipelinePath: path, def: def as never, silent: true, log: (l) => logs.push(l) });
    assert.equal(r.counts.pending, 0, logs.join(''));
    assert.equal(r.counts.written, 24, logs.join(''));
    assert.equal(r.counts.dead, 1);
    assert.equal(r.counts.exhausted, 1);
    assert.equal(r.counts.in, 25);
    // Its first run (in a batch), at most one chunk of a takeover, then maxDeliveries runs
    // alone each killed a worker; then it is dead-lettered unrun and nothing dies any more.
    assert.ok(r.restarts >= 3 && r.restarts <= 5, logs.join(''));
    assert.equal(rows(join(dir, 's2.db')).length, 24);
    const dead = await deadLines(join(dir, 's2-dead.jsonl'));
    assert.equal(dead.length, 1);
    assert.equal(dead[0]?.code, 'MP_ERR_POISON_MESSAGE');
  });

  it("a dead worker's entries are taken over at once, not after claimIdleMs (the supervisor saw it die)", {
    timeout: 45_000,
  }, async () => {
    const good = Array.from({ length: 12 }, (_, i) => JSON.stringify({ x: i }));
    await add('s3', [...good.slice(0, 6), JSON.stringify({ x: 99, crash: true }), ...good.slice(6)]);
    // Heartbeats outlive this test: only the supervisor's word can let the takeovers start in time.
    const { path, def } = await pipeline('s3', { claimIdleMs: 60_000, maxDeliveries: 1 });
    const logs: string[] = [];
    const r = await supervise({ workers: 2, pipelinePath: path, def: def as never, silent: true, log: (l) => logs.push(l) });
    assert.equal(r.counts.pending, 0, logs.join(''));
    assert.equal(r.counts.written, 12, logs.join(''));
    assert.equal(r.counts.dead, 1);
  });
});
