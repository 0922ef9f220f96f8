/**
 * What the metrics split costs on the hot path: the small-request identity server
 * ([1,4] float32; GraphPipe and OIP REST JSON) of this build against the same server
 * of a baseline build (BENCH_BASELINE: a repository checkout with its own `dist`,
 * e.g. the commit before the split), in interleaved rounds, so drift on the shared
 * machine hits both alike. Reports after/before ratios of throughput and of each
 * server's CPU time per request (user + system, from /proc: on a loaded machine the
 * throughput moves with the CPU share a process gets, its CPU per request much less);
 * a table and a final JSON line.
 *
 *   BENCH_BASELINE=/tmp/mp-base npm run bench -- metrics-cost
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeRequest } from '../src/protocol/graphpipe/index.js';
import { Tensor } from '../src/tensor/index.js';
import { type LoadResult, combine, load, startServer, stopServer, table } from './load.js';

const here = dirname(fileURLToPath(import.meta.url));
const SECS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);

interface Case {
  name: string;
  path: string;
  body: Uint8Array;
  headers: Record<string, string>;
}

const CASES: Case[] = [
  {
    name: 'graphpipe',
    path: '/',
    body: encodeRequest({
      type: 'infer',
      config: '',
      inputNames: [],
      inputs: [new Tensor('float32', [1, 4], new Float32Array([1, 2, 3, 4]))],
      outputNames: [],
    }),
    headers: {},
  },
  {
    name: 'oip-rest',
    path: '/v2/models/identity/infer',
    body: Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] })),
    headers: { 'content-type': 'application/json' },
  },
];

interface Server {
  url: string;
  proc: ChildProcess;
}

/** A process's CPU time so far in seconds (user + system, /proc/<pid>/stat at USER_HZ = 100). */
function cpuSeconds(pid: number | undefined): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Load results plus the server's CPU µs per request over all rounds. */
interface Measured {
  load: LoadResult;
  cpuUsPerRequest: number;
}

async function compare(before: Server, after: Server, c: Case, concurrency: number): Promise<[Measured, Measured]> {
  const runs = new Map<Server, { results: LoadResult[]; cpu: number }>([
    [before, { results: [], cpu: 0 }],
    [after, { results: [], cpu: 0 }],
  ]);
  const run = async (s: Server, secs: number, counted = true) => {
    const cpu0 = cpuSeconds(s.proc.pid);
    const r = await load(s.url, c.path, c.body, concurrency, secs, c.headers);
    const entry = runs.get(s) as { results: LoadResult[]; cpu: number };
    if (!counted) return;
    entry.cpu += cpuSeconds(s.proc.pid) - cpu0;
    entry.results.push(r);
  };
  await run(before, 1, false); // warm-up
  await run(after, 1, false);
  for (let i = 0; i < ROUNDS; i++) {
    // Alternate which goes first, so neither always follows the other's GC debt.
    const order = i % 2 === 0 ? [before, after] : [after, before];
    for (const s of order) await run(s, SECS / ROUNDS);
  }
  const measured = (s: Server): Measured => {
    const { results, cpu } = runs.get(s) as { results: LoadResult[]; cpu: number };
    const l = combine(results);
    return { load: l, cpuUsPerRequest: (cpu / l.requests) * 1e6 };
  };
  return [measured(before), measured(after)];
}

export async function run(): Promise<void> {
  const base = process.env.BENCH_BASELINE;
  const baseScript = base === undefined ? undefined : join(base, 'dist', 'bench', 'servers', 'identity.js');
  if (baseScript === undefined || !existsSync(baseScript)) {
    throw new Error('set BENCH_BASELINE to a built checkout of the baseline commit (its dist/bench/servers/identity.js)');
  }
  const before = await startServer([baseScript]);
  const after = await startServer([join(here, 'servers', 'identity.js')]);
  const rows: (string | number)[][] = [];
  const out: Record<string, number> = {};
  try {
    for (const c of CASES) {
      for (const concurrency of [1, 8]) {
        const [mb, ma] = await compare(before, after, c, concurrency);
        const [b, a] = [mb.load, ma.load];
        if (a.errors || b.errors) throw new Error(`errors in ${c.name}: before ${b.errors}, after ${a.errors}`);
        const ratio = a.rps / b.rps;
        const cpuRatio = ma.cpuUsPerRequest / mb.cpuUsPerRequest;
        rows.push([
          `${c.name} c=${concurrency}`,
          b.rps,
          a.rps,
          `${(ratio * 100).toFixed(1)} %`,
          mb.cpuUsPerRequest.toFixed(1),
          ma.cpuUsPerRequest.toFixed(1),
          `${(cpuRatio * 100).toFixed(1)} %`,
        ]);
        const key = `${c.name.replace('-', '_')}_c${concurrency}`;
        out[`${key}_ratio`] = ratio;
        out[`${key}_cpu_ratio`] = cpuRatio;
      }
    }
  } finally {
    await stopServer(before.proc);
    await stopServer(after.proc);
  }
  console.log(`\nMetrics split cost: small requests ([1,4] float32, loopback), ${ROUNDS} interleaved rounds of ${SECS / ROUNDS} s\n`);
  console.log(
    table(['case', 'before req/s', 'after req/s', 'after/before', 'before CPU µs/req', 'after CPU µs/req', 'CPU after/before'], rows),
  );
  console.log(JSON.stringify({ bench: 'metrics-cost', ...out }));
}
