import type { Redis } from 'ioredis';
import { ModelpipeError } from '../errors/index.js';

/**
 * Who may take over a pending entry. Idle time alone cannot tell a dead consumer from a
 * slow live one (an entry waiting in a live worker's batch looks idle too, and reclaiming
 * it means processing it twice), so each consumer keeps a heartbeat key alive while it
 * runs, and only entries of consumers whose heartbeat has expired are claimed.
 *
 * Timing: the heartbeat is refreshed every claimIdleMs/3 and lives claimIdleMs, so a
 * consumer is declared dead at most claimIdleMs after it stopped; live consumers scan for
 * such entries every min(claimIdleMs/4, 1 s), so an entry of a dead consumer is taken over
 * within about claimIdleMs + 1 s; within 1–2 s when a supervisor saw the death and deleted
 * the key (supervisor.ts).
 */
export function heartbeatKey(stream: string, group: string, consumer: string): string {
  return `mp:alive:${stream}:${group}:${consumer}`;
}

export interface Heartbeat {
  stop(): Promise<void>;
}

export async function startHeartbeat(r: Redis, key: string, ttlMs: number): Promise<Heartbeat> {
  const beat = () => r.set(key, String(process.pid), 'PX', Math.max(1, Math.round(ttlMs)));
  await beat();
  // A failed beat (Redis restarting) is retried at the next tick; commands report the outage.
  const t = setInterval(() => beat().catch(() => {}), Math.max(50, ttlMs / 3));
  t.unref();
  return {
    async stop() {
      clearInterval(t);
      await r.del(key).catch(() => {});
    },
  };
}

/** A pending entry another consumer may take over, and the dead consumer holding it. */
export interface Orphan {
  id: string;
  consumer: string;
}

/**
 * Pending entries (idle at least minIdleMs) held by consumers without a live heartbeat,
 * scanning the pending list in pages from `cursor` (returned for the next scan; '-' when
 * the scan wrapped around).
 */
export async function findOrphans(
  r: Redis,
  o: { stream: string; group: string; minIdleMs: number; cursor: string; count: number },
): Promise<{ orphans: Orphan[]; cursor: string }> {
  const rows = (await r.xpending(o.stream, o.group, 'IDLE', o.minIdleMs, o.cursor, '+', o.count)) as [string, string, number, number][];
  const alive = new Map<string, boolean>();
  const orphans: Orphan[] = [];
  for (const [id, consumer] of rows) {
    let live = alive.get(consumer);
    if (live === undefined) {
      live = (await r.exists(heartbeatKey(o.stream, o.group, consumer))) === 1;
      alive.set(consumer, live);
    }
    if (!live) orphans.push({ id, consumer });
  }
  const last = rows[rows.length - 1];
  // Next page starts after the last id seen ("(" = exclusive); a short page means the end.
  const cursor = rows.length < o.count || last === undefined ? '-' : `(${last[0]}`;
  return { orphans, cursor };
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
