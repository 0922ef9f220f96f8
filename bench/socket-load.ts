import { readFileSync, readdirSync } from 'node:fs';
import { SocketSender } from '../src/perf/socket-sender.js';
import { type LoadResult, closedLoop } from './load.js';

/**
 * Closed-loop HTTP load on perf's own sender (src/perf/socket-sender.ts): cheaper per
 * request than undici, so on a small machine more of the CPU is left to the servers
 * under test, whose figures are what a benchmark compares.
 */
export async function socketLoad(url: string, path: string, body: Uint8Array, concurrency: number, seconds: number): Promise<LoadResult> {
  const sender = new SocketSender(url, concurrency, 60_000);
  const post = sender.post(path, { 'content-type': 'application/octet-stream' }, body);
  const never = new AbortController().signal;
  try {
    return await closedLoop(async () => ({ ok: (await post(never)).status === 200 }), concurrency, seconds);
  } finally {
    await sender.close();
  }
}

/**
 * CPU seconds (user + system) used so far by a process and all its live descendants
 * (the workers of a multi-process server), from /proc. Throughput on a loaded shared
 * machine swings with the neighbours; CPU time per request swings much less.
 */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  const seen = new Set<number>();
  const visit = (p: number): void => {
    if (seen.has(p)) return;
    seen.add(p);
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      // fields after the command's closing parenthesis; utime and stime are the 12th and 13th of those
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
      for (const t of readdirSync(`/proc/${p}/task`)) {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').split(' ').filter(Boolean)) visit(Number(c));
      }
    } catch {
      // the process went away between reads
    }
  };
  visit(pid);
  return ticks / 100; // USER_HZ is 100 on Linux
}
