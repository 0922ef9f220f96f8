import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { ModelpipeError } from '../errors/index.js';
import { type Heartbeat, type Orphan, findOrphans, heartbeatKey, startHeartbeat } from './redis-claim.js';
import type { Sink } from './sink.js';

/**
 * Redis Streams for scale-out. Any number of worker processes read one stream through a
 * consumer group (each entry goes to one consumer). Delivery is at-least-once, and in the
 * normal case exactly once:
 * - an entry is XACKed only after the pipeline's sink wrote it, or its dead letter was
 *   written (call `ack` from a sink placed after the durable one, see `acker`);
 * - only entries of a dead consumer (no heartbeat, see redis-claim.ts) are taken over, so a
 *   live worker's slow entries are never processed twice;
 * - a taken-over entry runs alone (nothing else of this consumer in flight), so if it kills
 *   its worker again only its own delivery count grows; once XPENDING's count reaches
 *   `maxDeliveries` it is yielded `exhausted`, to be dead-lettered without running;
 * - XACK and an outcome counter (written / dead) are updated in one script, only for entries
 *   this ack actually acknowledged, so the counts in `mp:stats:<stream>:<group>` count each
 *   entry once whichever process finished it (see `streamCounts`).
 * Sinks must still be idempotent by message id (a consumer can die after writing, before XACK).
 */
export interface RedisStreamMessage {
  id: string;
  fields: Record<string, string>;
  /** Times this entry was delivered, this delivery included. */
  deliveries?: number;
  /** Delivered maxDeliveries times without being finished: dead-letter it, do not run it. */
  exhausted?: boolean;
}

export interface RedisStreamSourceOptions {
  url: string;
  stream: string;
  group: string;
  /** Consumer name; default host-pid. */
  consumer?: string;
  /** Entries per read. Default 32. */
  count?: number;
  /** How long one read blocks waiting for entries, in ms. Default 500. */
  blockMs?: number;
  /** A consumer silent this long is dead and its pending entries are taken over. Default 10000. */
  claimIdleMs?: number;
  /** Deliveries after which an unfinished entry is dead-lettered without running. Default 3. */
  maxDeliveries?: number;
  /** End the iteration once the group has nothing undelivered and nothing pending. */
  exitWhenDrained?: boolean;
}

export type AckOutcome = 'written' | 'dead';

export interface RedisStreamSource extends AsyncIterable<RedisStreamMessage> {
  readonly consumer: string;
  ack(ids: readonly string[], outcome?: AckOutcome): Promise<void>;
  /** A sink that XACKs the ids of the items written to it. */
  acker<T>(idOf: (x: T) => string, outcome?: AckOutcome): Sink<T>;
  /** Counts: entries read fresh, taken over, taken over exhausted, acked. */
  readonly stats: { read: number; claimed: number; exhausted: number; acked: number };
  /** Stops reading: the iteration ends, entries already yielded can still be acked. */
  stop(): void;
  close(): Promise<void>;
}

type Entry = [string, string[] | null];

function toMessage([id, kv]: Entry, deliveries: number): RedisStreamMessage | undefined {
  if (kv === null) return undefined; // deleted from the stream while pending
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < kv.length; i += 2) fields[kv[i] as string] = kv[i + 1] as string;
  return { id, fields, deliveries };
}

export function connect(url: string): Redis {
  const r = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3, enableOfflineQueue: true });
  r.on('error', () => {}); // surfaced through command failures instead
  return r;
}

export function statsKey(stream: string, group: string): string {
  return `mp:stats:${stream}:${group}`;
}

// XACK each id; count those this call acknowledged under the outcome (ARGV[1] group, ARGV[2] field).
const ACK_SCRIPT = `
local n = 0
for i = 3, #ARGV do n = n + redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) end
if n > 0 then redis.call('HINCRBY', KEYS[2], ARGV[2], n) end
return n`;

// Claims ARGV[2] for ARGV[4] only if its owner is still ARGV[3]; returns {deliveries before, XCLAIM's entries}.
const CLAIM_SCRIPT = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 or p[1][2] ~= ARGV[3] then return nil end
return {p[1][4], redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[4], 0, ARGV[2])}`;

export function redisStreamSource(o: RedisStreamSourceOptions): RedisStreamSource {
  const reader = connect(o.url); // blocking reads tie up their connection...
  const writer = connect(o.url); // ...so XACK/XCLAIM/XPENDING use another
  const consumer = o.consumer ?? `${hostname()}-${process.pid}`;
  const count = o.count ?? 32;
  const blockMs = o.blockMs ?? 500;
  const claimIdle = o.claimIdleMs ?? 10_000;
  const maxDeliveries = o.maxDeliveries ?? 3;
  const stats = { read: 0, claimed: 0, exhausted: 0, acked: 0 };
  const inflight = new Set<string>();
  let quietWaiters: (() => void)[] = [];
  let stopping = false;
  let heartbeat: Heartbeat | undefined;

  const wrap = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      throw new ModelpipeError('MP_ERR_SCALEOUT', `redis ${what} on ${o.stream}: ${(e as Error).message}`, { cause: e });
    }
  };
  /** Resolves once nothing this consumer yielded is unacked (or after claimIdleMs, for flows that drop items). */
  const quiet = async (): Promise<void> => {
    if (inflight.size === 0) return;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((r) => quietWaiters.push(r)), new Promise<void>((r) => (t = setTimeout(r, claimIdle)))]);
    clearTimeout(t);
  };
  const take = (id: string): void => {
    inflight.add(id);
  };

  const src: RedisStreamSource = {
    consumer,
    stats,
    async ack(ids, outcome = 'written') {
      if (ids.length === 0) return;
      const n = await wrap('XACK', () => writer.eval(ACK_SCRIPT, 2, o.stream, statsKey(o.stream, o.group), o.group, outcome, ...ids));
      stats.acked += Number(n);
      for (const id of ids) inflight.delete(id);
      if (inflight.size === 0) {
        const w = quietWaiters;
        quietWaiters = [];
        for (const f of w) f();
      }
    },
    acker<T>(idOf: (x: T) => string, outcome: AckOutcome = 'written'): Sink<T> {
      return { write: (items) => src.ack(items.map(idOf), outcome), close: async () => {} };
    },
    stop() {
      stopping = true;
    },
    async close() {
      stopping = true;
      await heartbeat?.stop();
      reader.disconnect();
      await writer.quit().catch(() => {});
    },
    async *[Symbol.asyncIterator]() {
      await wrap('XGROUP CREATE', async () => {
        try {
          await writer.xgroup('CREATE', o.stream, o.group, '0', 'MKSTREAM');
        } catch (e) {
          if (!String((e as Error).message).includes('BUSYGROUP')) throw e;
        }
      });
      // Entries this consumer name held before a restart (a fixed name): taken back like
      // orphans, so their delivery count grows and a poison entry cannot loop forever.
      const own = (await wrap('XPENDING', () => writer.xpending(o.stream, o.group, '-', '+', 10_000, consumer))) as [
        string,
        string,
        number,
        number,
      ][];
      heartbeat = await wrap('SET heartbeat', () => startHeartbeat(writer, heartbeatKey(o.stream, o.group, consumer), claimIdle));
      yield* takeOver(own.map(([id, c, , d]) => ({ id, consumer: c, deliveries: Number(d) })));
      const scanEvery = Math.min(claimIdle / 4, 1000);
      let lastScan = 0;
      let cursor = '-';
      while (!stopping) {
        let got = 0;
        if (Date.now() - lastScan >= scanEvery) {
          lastScan = Date.now();
          const found = await wrap('XPENDING', () => findOrphans(writer, { ...o, minIdleMs: 1000, cursor, count: 256 }));
          cursor = found.cursor;
          for await (const m of takeOver(found.orphans)) {
            got++;
            yield m;
          }
        }
        if (stopping) break;
        const res = (await wrap('XREADGROUP', () =>
          reader.xreadgroup('GROUP', o.group, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', o.stream, '>'),
        )) as [string, Entry[]][] | null;
        for (const e of res?.[0]?.[1] ?? []) {
          const m = toMessage(e, 1);
          if (!m) continue;
          got++;
          stats.read++;
          take(m.id);
          yield m;
        }
        if (got === 0 && o.exitWhenDrained && cursor === '-' && (await drained())) return;
      }
    },
  };

  /** Claims orphans one at a time; each runs alone, so a crash it causes blames only it. */
  async function* takeOver(orphans: readonly Orphan[]): AsyncGenerator<RedisStreamMessage> {
    for (const orphan of orphans) {
      if (stopping) return;
      if (orphan.deliveries < maxDeliveries) await quiet();
      // Atomically: still held by the dead consumer the scan saw? Then claim it. (A scan's list
      // goes stale while earlier orphans run; a plain XCLAIM could steal from a live claimer.)
      const got = (await wrap('XCLAIM', () => writer.eval(CLAIM_SCRIPT, 1, o.stream, o.group, orphan.id, orphan.consumer, consumer))) as
        | [number, Entry[]]
        | null;
      const deliveries = got === null ? 0 : Number(got[0]);
      const exhausted = deliveries >= maxDeliveries;
      const m = got?.[1][0] === undefined ? undefined : toMessage(got[1][0], deliveries + 1);
      if (!m) continue;
      stats.claimed++;
      await wrap('HINCRBY', () => writer.hincrby(statsKey(o.stream, o.group), exhausted ? 'exhausted' : 'claimed', 1));
      take(m.id);
      if (exhausted) {
        stats.exhausted++;
        yield { ...m, exhausted: true };
        continue;
      }
      yield m;
      await quiet();
    }
  }

  const drained = async (): Promise<boolean> => {
    const info = await groupInfo(writer, o.stream, o.group);
    return info !== undefined && info.pending === 0 && info.lag === 0;
  };
  return src;
}

export interface GroupInfo {
  pending: number;
  /** Entries not yet delivered to the group (0 when unknown after deletions). */
  lag: number;
  /** Entries the group has read (Redis 7: XINFO GROUPS entries-read; not kept across an AOF replay). */
  entriesRead: number;
  lastDeliveredId: string;
}

export async function groupInfo(r: Redis, stream: string, group: string): Promise<GroupInfo | undefined> {
  let groups: unknown[][];
  try {
    groups = (await r.xinfo('GROUPS', stream)) as unknown[][];
  } catch (e) {
    if (String((e as Error).message).includes('no such key')) return undefined;
    throw new ModelpipeError('MP_ERR_SCALEOUT', `redis XINFO GROUPS on ${stream}: ${(e as Error).message}`, { cause: e });
  }
  for (const g of groups) {
    const info: Record<string, unknown> = {};
    for (let i = 0; i + 1 < g.length; i += 2) info[String(g[i])] = g[i + 1];
    if (info.name === group) {
      return {
        pending: Number(info.pending),
        lag: Number(info.lag ?? 0),
        entriesRead: Number(info['entries-read'] ?? 0),
        lastDeliveredId: String(info['last-delivered-id'] ?? '0-0'),
      };
    }
  }
  return undefined;
}
