import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { type RedisStreamMessage, redisStreamSource } from '../../src/runinference/redis-streams.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

/**
 * Taking over a dead consumer's entries (redis-takeover.ts), with in-process consumers:
 * a consumer "dies" by being closed (its heartbeat deleted) with entries unacked.
 */
let server: RedisServer | undefined;
let dir = '';
let redis: Redis;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runinf-takeover-'));
  server = await startRedis(dir);
  redis = server.client;
});

after(async () => {
  server?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** n entries {x: i}, all delivered to `victim`, a consumer that never had a heartbeat (dead). */
async function heldByDeadConsumer(stream: string, n: number): Promise<string[]> {
  const p = redis.pipeline();
  for (let i = 0; i < n; i++) p.xadd(stream, '*', 'data', JSON.stringify({ x: i }));
  const ids = ((await p.exec()) ?? []).map(([, id]) => id as string);
  await redis.xgroup('CREATE', stream, 'g', '0');
  await redis.xreadgroup('GROUP', 'g', 'victim', 'COUNT', n, 'STREAMS', stream, '>');
  return ids;
}

const source = (stream: string, consumer: string) =>
  redisStreamSource({
    url: server?.url as string,
    stream,
    group: 'g',
    consumer,
    blockMs: 100,
    claimIdleMs: 60_000,
    maxDeliveries: 3,
    exitWhenDrained: true,
  });

const within = <T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> =>
  Promise.race([p, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref())]);

describe('taking over a dead consumer', () => {
  it('entries whose workers were killed from outside again and again are run, not dead-lettered', { timeout: 30_000 }, async () => {
    const ids = await heldByDeadConsumer('t1', 20);
    // Five more deaths of the holder: Redis' delivery count reaches 6, above maxDeliveries 3.
    for (let k = 0; k < 5; k++) await redis.xclaim('t1', 'g', 'victim', 0, ...ids);
    const src = source('t1', 'c1');
    const got: RedisStreamMessage[] = [];
    for await (const m of src) {
      got.push(m);
      await src.ack([m.id]);
    }
    await src.close();
    assert.equal(got.length, 20);
    assert.deepEqual(
      got.filter((m) => m.exhausted).map((m) => m.id),
      [],
      'good entries were dead-lettered as poison',
    );
    assert.equal((await redis.xpending('t1', 'g'))[0], 0);
  });

  it('takes over in chunks: several entries in flight at once, not one round trip each', { timeout: 30_000 }, async () => {
    await heldByDeadConsumer('t2', 40);
    const src = source('t2', 'c1');
    const it = src[Symbol.asyncIterator]();
    const chunk: RedisStreamMessage[] = [];
    // Unacked, a one-at-a-time takeover blocks after the first entry (for claimIdleMs: 60 s).
    for (let i = 0; i < 8; i++) {
      const r = await within(it.next(), 10_000);
      assert.notEqual(r, 'timeout', `only ${chunk.length} entries yielded before the takeover waited for an ack`);
      chunk.push((r as IteratorResult<RedisStreamMessage>).value);
    }
    await src.ack(chunk.map((m) => m.id));
    let rest = 0;
    for (let r = await it.next(); !r.done; r = await it.next()) {
      rest++;
      await src.ack([r.value.id]);
    }
    await src.close();
    assert.equal(chunk.length + rest, 40);
  });

  it('a poison entry is isolated and dead-lettered after maxDeliveries crashes alone; its neighbours never charged', {
    timeout: 60_000,
  }, async () => {
    const ids = await heldByDeadConsumer('t3', 20);
    const poison = ids[5] as string;
    const seen = new Map<string, RedisStreamMessage[]>();
    let crashes = 0;
    // Each life takes over, acks what it ran, and "dies" (closes, unacked) when it gets the poison.
    for (let life = 0; life < 12; life++) {
      const src = source('t3', `c${life}`);
      let died = false;
      for await (const m of src) {
        seen.set(m.id, [...(seen.get(m.id) ?? []), m]);
        if (m.id === poison && !m.exhausted) {
          died = true;
          break;
        }
        await src.ack([m.id], m.exhausted ? 'dead' : 'written');
      }
      await src.close();
      if (!died) break;
      crashes++;
    }
    const last = seen.get(poison)?.at(-1);
    assert.equal(last?.exhausted, true, `poison not dead-lettered after ${crashes} crashes`);
    assert.ok(crashes <= 2 + 3, `${crashes} crashes for one poison entry`);
    for (const id of ids.filter((x) => x !== poison)) {
      const ms = seen.get(id) ?? [];
      assert.ok(ms.length >= 1, `${id} never ran`);
      assert.ok(
        ms.every((m) => !m.exhausted && (m.crashes ?? 0) === 0),
        `neighbour ${id} charged: ${JSON.stringify(ms)}`,
      );
    }
    assert.equal((await redis.xpending('t3', 'g'))[0], 0);
  });
});
