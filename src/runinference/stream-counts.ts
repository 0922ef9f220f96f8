import type { Redis } from 'ioredis';
import { groupInfo, statsKey } from './redis-streams.js';

/**
 * A consumer group's counts as the stream itself records them, independent of any worker
 * process (a killed worker's own counters die with it): entries the group read, entries
 * pending, and the outcome counters the ack script keeps (each entry counted once, by the
 * ack that acknowledged it).
 */
export interface StreamCounts {
  /** Entries up to the group's last delivered id (XLEN less those after it; no trimming assumed). */
  consumed: number;
  pending: number;
  written: number;
  dead: number;
  /** Entries taken over from dead consumers (run again). */
  claimed: number;
  /** Entries dead-lettered without running after maxDeliveries. */
  exhausted: number;
}

export async function streamCounts(r: Redis, stream: string, group: string): Promise<StreamCounts> {
  const info = await groupInfo(r, stream, group);
  const h = await r.hgetall(statsKey(stream, group));
  const n = (k: string): number => Number(h[k] ?? 0);
  // Not XINFO's entries-read: Redis replays reads from the AOF as XCLAIMs, so after a
  // restart it no longer counts what was read before.
  let consumed = 0;
  if (info !== undefined) {
    const len = await r.xlen(stream);
    let after = 0;
    let from = `(${info.lastDeliveredId}`;
    for (;;) {
      const page = (await r.xrange(stream, from, '+', 'COUNT', 10_000)) as [string, string[]][];
      after += page.length;
      if (page.length < 10_000) break;
      from = `(${(page[page.length - 1] as [string, string[]])[0]}`;
    }
    consumed = len - after;
  }
  return {
    consumed,
    pending: info?.pending ?? 0,
    written: n('written'),
    dead: n('dead'),
    claimed: n('claimed'),
    exhausted: n('exhausted'),
  };
}

/** What one run did: the difference of the counts before and after it. */
export interface RunCounts {
  /** Entries this run took on: newly read plus those pending when it started, less those still pending. */
  in: number;
  written: number;
  dead: number;
  claimed: number;
  exhausted: number;
  pending: number;
}

export function runCounts(before: StreamCounts, after: StreamCounts): RunCounts {
  return {
    in: after.consumed - before.consumed + before.pending - after.pending,
    written: after.written - before.written,
    dead: after.dead - before.dead,
    claimed: after.claimed - before.claimed,
    exhausted: after.exhausted - before.exhausted,
    pending: after.pending,
  };
}

export function formatRunCounts(c: RunCounts, workers: number, restarts: number): string {
  const balanced = c.in === c.written + c.dead;
  return (
    `${workers} workers, ${restarts} restarts: ${c.in} entries in = ${c.written} written + ${c.dead} dead letters` +
    `${balanced ? '' : ' (MISMATCH)'}; ${c.claimed} taken over from dead workers, ${c.exhausted} past maxDeliveries; ${c.pending} pending\n`
  );
}
