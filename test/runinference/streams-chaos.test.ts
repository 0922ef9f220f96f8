import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runChaos } from '../../bench/streams/chaos.js';
import { runHttpLoad } from '../../bench/streams/http-load.js';
import { type AofRedis, startAofRedis } from '../../bench/streams/redis-aof.js';

/** The short version of `npm run bench -- streams` (same harness, small counts). */
let dir = '';
let redis: AofRedis | undefined;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runinf-chaos-'));
  redis = await startAofRedis(dir);
});
after(async () => {
  redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('streams under faults (short)', () => {
  it('3 workers, 2 SIGKILLs, a redis restart, a poison entry: one row per entry, poison dead-lettered once', {
    timeout: 120_000,
  }, async () => {
    const r = await runChaos({
      redis: redis as AofRedis,
      dir,
      stream: 'chaos',
      entries: 1000,
      workers: 3,
      kills: 2,
      killEveryMs: 1500,
      poison: 1,
      restartRedis: true,
      handler: 'double',
      sink: { type: 'sqlite', path: join(dir, 'chaos.db') },
      claimIdleMs: 1500,
      maxDeliveries: 3,
    });
    const msg = JSON.stringify(r);
    assert.equal(r.check.missing, 0, msg);
    assert.equal(r.check.goodDeadLettered, 0, msg);
    assert.equal(r.check.poisonDeadLettered, 1, msg);
    assert.equal(r.check.deadRows, 1, msg);
    assert.equal(r.pending, 0, msg);
    assert.equal(r.in, 1000, msg);
    assert.equal(r.in, r.written + r.dead, msg);
    assert.equal(r.kills, 2, msg);
  });

  it('HTTP source, 1 000 records with a SIGTERM in the middle: every 2xx record is in the sink', { timeout: 60_000 }, async () => {
    const r = await runHttpLoad({ dir, records: 1000, perRequest: 20, concurrency: 4 });
    const msg = JSON.stringify(r);
    assert.equal(r.lost, 0, msg);
    assert.equal(r.unconfirmed, 0, msg);
    assert.equal(r.accepted + r.refused, 1000, msg);
    // SIGTERM goes out as record 500 is posted; the requests in flight then (up to
    // concurrency − 1 of perRequest records) may be refused by the drain, so the run is
    // "in the middle" when ≥ 500 − 3 × 20 were answered 2xx before it, and none of those
    // can be lost.
    assert.ok(r.acceptedBeforeTerm >= 500 - 3 * 20, msg);
    assert.ok(r.accepted >= r.acceptedBeforeTerm, msg);
    assert.equal(r.exitCode, 0, msg);
    assert.ok(r.summary, msg);
  });
});
