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
  return new StreamConsumer(o);
}

type PendingEntry = [id: string, consumer: string, idleMs: number, deliveries: number];

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
    const n = await this.wrap('XACK', () => this.writer.eval(ACK_SCRIPT, 2, stream, statsKey(stream, group), group, outcome, ...ids));
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
    yield* this.takeOver(await this.ownPending());
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
   * Entries this consumer name held before a restart (a fixed name), then starts the
   * heartbeat. They are taken back like orphans, so their delivery count grows and a
   * poison entry cannot loop forever.
   */
  private async ownPending(): Promise<Orphan[]> {
    const { stream, group } = this.o;
    const own = (await this.wrap('XPENDING', () => this.writer.xpending(stream, group, '-', '+', 10_000, this.consumer))) as PendingEntry[];
    const key = heartbeatKey(stream, group, this.consumer);
    this.heartbeat = await this.wrap('SET heartbeat', () => startHeartbeat(this.writer, key, this.claimIdle));
    return own.map(([id, c, , d]) => ({ id, consumer: c, deliveries: Number(d) }));
  }

  /** One blocking XREADGROUP of entries never delivered before. */
  private async *readFresh(): AsyncGenerator<RedisStreamMessage> {
    const o = this.o;
    const res = (await this.wrap('XREADGROUP', () =>
      this.reader.xreadgroup('GROUP', o.group, this.consumer, 'COUNT', o.count ?? 32, 'BLOCK', o.blockMs ?? 500, 'STREAMS', o.stream, '>'),
    )) as [string, Entry[]][] | null;
    for (const e of res?.[0]?.[1] ?? []) {
      const m = toMessage(e, 1);
      if (!m) continue;
      this.stats.read++;
      this.inflight.add(m.id);
      yield m;
    }
  }

  /** Claims orphans one at a time; each runs alone, so a crash it causes blames only it. */
  private async *takeOver(orphans: readonly Orphan[]): AsyncGenerator<RedisStreamMessage> {
    const { stream, group } = this.o;
    for (const orphan of orphans) {
      if (this.stopping) return;
      if (orphan.deliveries < this.maxDeliveries) await this.quiet();
      // Atomically: still held by the dead consumer the scan saw? Then claim it. (A scan's list
      // goes stale while earlier orphans run; a plain XCLAIM could steal from a live claimer.)
      const got = (await this.wrap('XCLAIM', () =>
        this.writer.eval(CLAIM_SCRIPT, 1, stream, group, orphan.id, orphan.consumer, this.consumer),
      )) as [number, Entry[]] | null;
      const deliveries = got === null ? 0 : Number(got[0]);
      const exhausted = deliveries >= this.maxDeliveries;
      const m = got?.[1][0] === undefined ? undefined : toMessage(got[1][0], deliveries + 1);
      if (!m) continue;
      this.stats.claimed++;
      await this.wrap('HINCRBY', () => this.writer.hincrby(statsKey(stream, group), exhausted ? 'exhausted' : 'claimed', 1));
      this.inflight.add(m.id);
      if (exhausted) {
        this.stats.exhausted++;
        yield { ...m, exhausted: true };
        continue;
      }
      yield m;
      await this.quiet();
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
