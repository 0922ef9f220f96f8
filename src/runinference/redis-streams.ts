import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { ModelpipeError } from '../errors/index.js';
import { type Heartbeat, type Orphan, findOrphans, groupInfo, heartbeatKey, startHeartbeat } from './redis-claim.js';
import { claimChunk, crashesKey, retireOwnPending, suspectKey } from './redis-takeover.js';
import type { Sink } from './sink.js';

/**
 * Redis Streams for scale-out. Any number of worker processes read one stream through a
 * consumer group (each entry goes to one consumer). Delivery is at-least-once, and in the
 * normal case exactly once:
 * - an entry is XACKed only after the pipeline's sink wrote it, or its dead letter was
 *   written (call `ack` from a sink placed after the durable one, see `acker`);
 * - only entries of a dead consumer (no heartbeat, see redis-claim.ts) are taken over, so a
 *   live worker's slow entries are never processed twice;
 * - taken-over entries run in chunks with nothing else of this consumer in flight, bisected
 *   to one on a crash; an entry is charged a crash only when its worker died running it
 *   alone, and after `maxDeliveries` such crashes it is yielded `exhausted`, to be
 *   dead-lettered without running (redis-takeover.ts: an outside SIGKILL is not a poison);
 * - XACK and an outcome counter (written / dead) are updated in one script, only for entries
 *   this ack actually acknowledged, so the counts in `mp:stats:<stream>:<group>` count each
 *   entry once whichever process finished it (see `streamCounts`).
 * Sinks must still be idempotent by message id (a consumer can die after writing, before XACK).
 */
export interface RedisStreamMessage {
  id: string;
  fields: Record<string, string>;
  /** Times this entry crashed a worker while running alone (see redis-takeover.ts). */
  crashes?: number;
  /** Crashed its worker maxDeliveries times: dead-letter it, do not run it. */
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
  /** Crashes (running alone) after which an entry is dead-lettered without running. Default 3. */
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

function toMessage([id, kv]: Entry, crashes: number): RedisStreamMessage | undefined {
  if (kv === null) return undefined; // deleted from the stream while pending
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < kv.length; i += 2) fields[kv[i] as string] = kv[i + 1] as string;
  return { id, fields, crashes };
}

export function connect(url: string): Redis {
  const r = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3, enableOfflineQueue: true });
  r.on('error', () => {}); // surfaced through command failures instead
  return r;
}

export function statsKey(stream: string, group: string): string {
  return `mp:stats:${stream}:${group}`;
}

// XACK each id; count those this call acknowledged under the outcome (ARGV[1] group, ARGV[2]
// field); forget the takeover records of finished entries (KEYS[3] suspects, KEYS[4] crashes).
const ACK_SCRIPT = `
local n = 0
for i = 3, #ARGV do
  n = n + redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
  redis.call('HDEL', KEYS[3], ARGV[i])
  redis.call('HDEL', KEYS[4], ARGV[i])
end
if n > 0 then redis.call('HINCRBY', KEYS[2], ARGV[2], n) end
return n`;

export function redisStreamSource(o: RedisStreamSourceOptions): RedisStreamSource {
  return new StreamConsumer(o);
}

/** One consumer of the group: reads fresh entries, takes over dead consumers' ones, acks. */
class StreamConsumer implements RedisStreamSource {
  readonly consumer: string;
  readonly stats = { read: 0, claimed: 0, exhausted: 0, acked: 0 };
  private readonly reader: Redis; // blocking reads tie up their connection...
  private readonly writer: Redis; // ...so XACK/XCLAIM/XPENDING use another
  private readonly claimIdle: number;
  private readonly maxDeliveries: number;
  private readonly inflight = new Set<string>();
  private quietWaiters: (() => void)[] = [];
  private stopping = false;
  private heartbeat: Heartbeat | undefined;

  constructor(private readonly o: RedisStreamSourceOptions) {
    this.reader = connect(o.url);
    this.writer = connect(o.url);
    this.consumer = o.consumer ?? `${hostname()}-${process.pid}`;
    this.claimIdle = o.claimIdleMs ?? 10_000;
    this.maxDeliveries = o.maxDeliveries ?? 3;
  }

  async ack(ids: readonly string[], outcome: AckOutcome = 'written'): Promise<void> {
    if (ids.length === 0) return;
    const { stream, group } = this.o;
    const n = await this.wrap('XACK', () =>
      this.writer.eval(
        ACK_SCRIPT,
        4,
        stream,
        statsKey(stream, group),
        suspectKey(stream, group),
        crashesKey(stream, group),
        group,
        outcome,
        ...ids,
      ),
    );
    this.stats.acked += Number(n);
    for (const id of ids) this.inflight.delete(id);
    if (this.inflight.size === 0) {
      const w = this.quietWaiters;
      this.quietWaiters = [];
      for (const f of w) f();
    }
  }

  acker<T>(idOf: (x: T) => string, outcome: AckOutcome = 'written'): Sink<T> {
    return { write: (items) => this.ack(items.map(idOf), outcome), close: async () => {} };
  }

  stop(): void {
    this.stopping = true;
  }

  async close(): Promise<void> {
    this.stopping = true;
    await this.heartbeat?.stop();
    this.reader.disconnect();
    await this.writer.quit().catch(() => {});
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<RedisStreamMessage> {
    await this.joinGroup();
    await this.ownPending();
    const scanEvery = Math.min(this.claimIdle / 4, 1000);
    let lastScan = 0;
    let cursor = '-';
    while (!this.stopping) {
      let got = 0;
      if (Date.now() - lastScan >= scanEvery) {
        lastScan = Date.now();
        const found = await this.wrap('XPENDING', () => findOrphans(this.writer, { ...this.o, minIdleMs: 1000, cursor, count: 256 }));
        cursor = found.cursor;
        for await (const m of this.takeOver(found.orphans)) {
          got++;
          yield m;
        }
      }
      if (this.stopping) break;
      for await (const m of this.readFresh()) {
        got++;
        yield m;
      }
      if (got === 0 && this.o.exitWhenDrained && cursor === '-' && (await this.drained())) return;
    }
  }

  /** Creates the group (and the stream) unless it exists. */
  private joinGroup(): Promise<void> {
    return this.wrap('XGROUP CREATE', async () => {
      try {
        await this.writer.xgroup('CREATE', this.o.stream, this.o.group, '0', 'MKSTREAM');
      } catch (e) {
        if (!String((e as Error).message).includes('BUSYGROUP')) throw e;
      }
    });
  }

  /**
   * Entries this consumer name held before a restart (a fixed name) are handed to a ghost
   * consumer and taken over like any dead one's; then the heartbeat starts.
   */
  private async ownPending(): Promise<void> {
    const { stream, group } = this.o;
    await this.wrap('XCLAIM', () => retireOwnPending(this.writer, stream, group, this.consumer));
    const key = heartbeatKey(stream, group, this.consumer);
    this.heartbeat = await this.wrap('SET heartbeat', () => startHeartbeat(this.writer, key, this.claimIdle));
  }

  /** One blocking XREADGROUP of entries never delivered before. */
  private async *readFresh(): AsyncGenerator<RedisStreamMessage> {
    const o = this.o;
    const res = (await this.wrap('XREADGROUP', () =>
      this.reader.xreadgroup('GROUP', o.group, this.consumer, 'COUNT', o.count ?? 32, 'BLOCK', o.blockMs ?? 500, 'STREAMS', o.stream, '>'),
    )) as [string, Entry[]][] | null;
    for (const e of res?.[0]?.[1] ?? []) {
      const m = toMessage(e, 0);
      if (!m) continue;
      this.stats.read++;
      this.inflight.add(m.id);
      yield m;
    }
  }

  /**
   * Takes over dead consumers' entries in chunks (redis-takeover.ts): each chunk runs with
   * nothing else of this consumer in flight, so a crash it causes is charged to it alone.
   */
  private async *takeOver(orphans: readonly Orphan[]): AsyncGenerator<RedisStreamMessage> {
    const { stream, group } = this.o;
    const byConsumer = new Map<string, string[]>();
    for (const o of orphans) byConsumer.set(o.consumer, [...(byConsumer.get(o.consumer) ?? []), o.id]);
    for (const [dead, ids] of byConsumer) {
      const o = { stream, group, statsKey: statsKey(stream, group), dead, claimer: this.consumer, maxDeliveries: this.maxDeliveries };
      let rest = ids;
      while (rest.length > 0 && !this.stopping) {
        await this.quiet();
        const { used, chunk } = await this.wrap('XCLAIM', () => claimChunk(this.writer, o, rest.slice(0, 256)));
        rest = rest.slice(Math.max(1, used));
        for (const c of chunk) {
          const m = c.entry === null ? undefined : toMessage(c.entry, c.crashes);
          if (!m) continue;
          this.stats.claimed++;
          this.inflight.add(m.id);
          const exhausted = c.crashes >= this.maxDeliveries;
          if (exhausted) this.stats.exhausted++;
          yield exhausted ? { ...m, exhausted } : m;
        }
        await this.quiet();
      }
    }
  }

  /** Resolves once nothing this consumer yielded is unacked (or after claimIdleMs, for flows that drop items). */
  private async quiet(): Promise<void> {
    if (this.inflight.size === 0) return;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((r) => this.quietWaiters.push(r)),
      new Promise<void>((r) => (t = setTimeout(r, this.claimIdle))),
    ]);
    clearTimeout(t);
  }

  private async drained(): Promise<boolean> {
    const info = await groupInfo(this.writer, this.o.stream, this.o.group);
    return info !== undefined && info.pending === 0 && info.lag === 0;
  }

  private async wrap<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      throw new ModelpipeError('MP_ERR_SCALEOUT', `redis ${what} on ${this.o.stream}: ${(e as Error).message}`, { cause: e });
    }
  }
}

export { type GroupInfo, groupInfo } from './redis-claim.js';
