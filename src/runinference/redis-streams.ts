import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { ModelpipeError } from '../errors/index.js';
import { toJSON } from './file-sinks.js';
import type { Sink } from './sink.js';

/**
 * Redis Streams for scale-out. Any number of worker processes read one stream through a
 * consumer group (each entry goes to one consumer). Delivery is at-least-once:
 * - an entry is XACKed only after the pipeline's sink wrote it (call `ack` from a sink
 *   placed after the durable one, see `acker`);
 * - entries a crashed worker had taken stay pending; live workers take them over with
 *   XAUTOCLAIM once they have been idle for `claimIdleMs`;
 * so sinks must be idempotent by message id (sqliteSink with `key`, redisStreamSink).
 */
export interface RedisStreamMessage {
  id: string;
  fields: Record<string, string>;
  /** Times this entry was delivered (>1 after a reclaim). */
  deliveries?: number;
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
  /** Pending entries idle this long are reclaimed from their (presumed dead) consumer. Default 10000. */
  claimIdleMs?: number;
  /** End the iteration once the group has nothing undelivered and nothing pending. */
  exitWhenDrained?: boolean;
}

export interface RedisStreamSource extends AsyncIterable<RedisStreamMessage> {
  readonly consumer: string;
  ack(ids: readonly string[]): Promise<void>;
  /** A sink that XACKs the ids of the items written to it. */
  acker<T>(idOf: (x: T) => string): Sink<T>;
  /** Counts: entries read fresh, reclaimed, acked. */
  readonly stats: { read: number; claimed: number; acked: number };
  close(): Promise<void>;
}

type Entry = [string, string[] | null];

function toMessage([id, kv]: Entry): RedisStreamMessage | undefined {
  if (kv === null) return undefined; // deleted from the stream while pending
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < kv.length; i += 2) fields[kv[i] as string] = kv[i + 1] as string;
  return { id, fields };
}

export function connect(url: string): Redis {
  const r = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3, enableOfflineQueue: true });
  r.on('error', () => {}); // surfaced through command failures instead
  return r;
}

export function redisStreamSource(o: RedisStreamSourceOptions): RedisStreamSource {
  const reader = connect(o.url); // blocking reads tie up their connection...
  const writer = connect(o.url); // ...so XACK/XAUTOCLAIM/XINFO use another
  const consumer = o.consumer ?? `${hostname()}-${process.pid}`;
  const count = o.count ?? 32;
  const blockMs = o.blockMs ?? 500;
  const claimIdle = o.claimIdleMs ?? 10_000;
  const stats = { read: 0, claimed: 0, acked: 0 };
  let closed = false;

  const wrap = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      throw new ModelpipeError('MP_ERR_SCALEOUT', `redis ${what} on ${o.stream}: ${(e as Error).message}`, { cause: e });
    }
  };

  const src: RedisStreamSource = {
    consumer,
    stats,
    async ack(ids) {
      if (ids.length === 0) return;
      const n = await wrap('XACK', () => writer.xack(o.stream, o.group, ...ids));
      stats.acked += Number(n);
    },
    acker<T>(idOf: (x: T) => string): Sink<T> {
      return { write: (items) => src.ack(items.map(idOf)), close: async () => {} };
    },
    async close() {
      closed = true;
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
      // Entries this consumer name took before a restart and never acked.
      let own = '0';
      for (;;) {
        const res = (await wrap('XREADGROUP', () =>
          reader.xreadgroup('GROUP', o.group, consumer, 'COUNT', count, 'STREAMS', o.stream, own),
        )) as [string, Entry[]][] | null;
        const entries = res?.[0]?.[1] ?? [];
        if (entries.length === 0) break;
        for (const e of entries) {
          const m = toMessage(e);
          if (m) yield m;
        }
        own = (entries[entries.length - 1] as Entry)[0];
      }
      let lastClaim = 0;
      let cursor = '0-0';
      while (!closed) {
        let got = 0;
        if (Date.now() - lastClaim >= Math.min(claimIdle, 1000)) {
          lastClaim = Date.now();
          const r = (await wrap('XAUTOCLAIM', () => writer.xautoclaim(o.stream, o.group, consumer, claimIdle, cursor, 'COUNT', count))) as [
            string,
            Entry[],
          ];
          cursor = r[0];
          for (const e of r[1]) {
            const m = toMessage(e);
            if (!m) continue;
            got++;
            stats.claimed++;
            yield { ...m, deliveries: 2 };
          }
        }
        const res = (await wrap('XREADGROUP', () =>
          reader.xreadgroup('GROUP', o.group, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', o.stream, '>'),
        )) as [string, Entry[]][] | null;
        for (const e of res?.[0]?.[1] ?? []) {
          const m = toMessage(e);
          if (!m) continue;
          got++;
          stats.read++;
          yield m;
        }
        if (got === 0 && o.exitWhenDrained && cursor === '0-0' && (await drained())) return;
      }
    },
  };

  const drained = async (): Promise<boolean> => {
    const groups = (await wrap('XINFO GROUPS', () => writer.xinfo('GROUPS', o.stream))) as unknown[][];
    for (const g of groups) {
      const info: Record<string, unknown> = {};
      for (let i = 0; i + 1 < g.length; i += 2) info[String(g[i])] = g[i + 1];
      if (info.name === o.group) return Number(info.pending) === 0 && Number(info.lag ?? 0) === 0;
    }
    return false;
  };
  return src;
}

/**
 * A stream sink that writes each item once per id: a Lua script sets a dedup key
 * (SET NX with a TTL) and XADDs only if it was not set, atomically, so an item rewritten
 * after a reclaim is dropped.
 */
export function redisStreamSink<T>(o: {
  url: string;
  stream: string;
  idOf: (x: T) => string;
  dedupTtlSec?: number;
  maxLen?: number;
}): Sink<T> {
  const r = connect(o.url);
  const script = `
local n = 0
for i = 1, #ARGV - 1, 2 do
  if redis.call('SET', KEYS[2] .. ARGV[i], '1', 'NX', 'EX', tonumber(KEYS[3])) then
    redis.call('XADD', KEYS[1], '*', 'id', ARGV[i], 'data', ARGV[i + 1])
    n = n + 1
  end
end
return n`;
  return {
    async write(items) {
      if (items.length === 0) return;
      const args: string[] = [];
      for (const x of items) args.push(o.idOf(x), toJSON(x));
      try {
        await r.eval(script, 3, o.stream, `mp:dedup:${o.stream}:`, String(o.dedupTtlSec ?? 86_400), ...args);
        if (o.maxLen !== undefined) await r.xtrim(o.stream, 'MAXLEN', '~', o.maxLen);
      } catch (e) {
        throw new ModelpipeError('MP_ERR_SINK', `redis XADD to ${o.stream}: ${(e as Error).message}`, { cause: e });
      }
    },
    async close() {
      await r.quit().catch(() => {});
    },
  };
}
