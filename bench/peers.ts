/**
 * modelpipe beside the real graphpipe-go (`npm run bench -- peers`): the same echo
 * (input in0 → out0, float32) served by each — modelpipe in one process and in two
 * (`--processes 2`: workers sharing the port) — small requests ([1,4]) at concurrency
 * 1, 8 and 32 in BENCH_ROUNDS (default 3) interleaved rounds, medians compared; a
 * 64 MiB tensor at concurrency 1; each server's CPU time per request (CPU seconds of the
 * server's process tree over the requests it answered: steadier than req/s on a
 * shared machine) and peak RSS; then `modelpipe batcher` and graphpipe-go's
 * `graphpipe-batcher` in front of the same (modelpipe) target. The load is perf's own
 * socket sender (bench/socket-load.ts). More modelpipe configurations are one more
 * entry in MODELPIPE_SERVERS; BENCH_BASELINE=DIR adds another build's echo (DIR a built
 * checkout of an earlier commit) for a before/after in the same run. One run; table + final JSON line.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { encodeRequest } from '../src/protocol/graphpipe/index.js';
import { Tensor } from '../src/tensor/index.js';
import { startGoServer, startGraphpipeBatcher } from '../test/peers/peers.js';
import { type LoadResult, combine, startServer, stopServer, table } from './load.js';
import { socketLoad, treeCpuSeconds } from './socket-load.js';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', 'src', 'cli', 'main.js');
const SECS = Number(process.env.BENCH_SECONDS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface Server {
  label: string;
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** modelpipe configurations to compare with graphpipe-go (add rows here). */
const echo = (processes: number) => () =>
  startServer(['--initial-old-space-size=128', join(here, 'servers', 'mp-echo.js'), '0', String(processes)]);
/** BENCH_BASELINE=DIR: a built checkout of an earlier commit (e.g. a git worktree in /tmp) as one more row, for before/after in one run. */
const BASELINE = process.env.BENCH_BASELINE;
const MODELPIPE_SERVERS: { label: string; start(): Promise<{ url: string; proc: ChildProcess }> }[] = [
  { label: 'modelpipe', start: echo(1) },
  { label: 'modelpipe --processes 2', start: echo(2) },
  ...(BASELINE
    ? [
        {
          label: 'baseline modelpipe',
          start: () => startServer(['--initial-old-space-size=128', join(BASELINE, 'dist', 'bench', 'servers', 'mp-echo.js'), '0']),
        },
      ]
    : []),
];

const body = (rows: number, cols: number) =>
  encodeRequest({
    type: 'infer',
    config: '',
    inputNames: ['in0'],
    inputs: [new Tensor('float32', [rows, cols], new Float32Array(rows * cols).fill(1.5))],
    outputNames: ['out0'],
  });

/** Peak resident memory of a process, MiB (VmHWM). */
function peakRssMiB(pid: number | undefined): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

type Row = { label: string; load: string; conc: number; r: LoadResult; cpuUs: number };

/** One load on one server: its result and the server's CPU microseconds per request. */
async function measureOne(s: Server, b: Uint8Array, conc: number, secs: number): Promise<{ r: LoadResult; cpu: number }> {
  const cpu0 = treeCpuSeconds(s.proc.pid as number);
  const r = await socketLoad(s.url, '/', b, conc, secs);
  const cpu = treeCpuSeconds(s.proc.pid as number) - cpu0;
  if (r.errors > 0) throw new Error(`${s.label}: ${r.errors} failed requests`);
  return { r, cpu };
}

async function measure(servers: Server[], small: Uint8Array, large: Uint8Array): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [name, b, conc, secs, rounds] of [
    ['[1,4] float32', small, 1, SECS, ROUNDS],
    ['[1,4] float32', small, 8, SECS, ROUNDS],
    ['[1,4] float32', small, 32, SECS, ROUNDS],
    ['64 MiB float32', large, 1, SECS * 1.5, 1],
  ] as const) {
    const runs = new Map<Server, { r: LoadResult; cpu: number }[]>(servers.map((s) => [s, []]));
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round, so no server always runs first (or last).
      for (let k = 0; k < servers.length; k++) {
        const s = servers[(k + round) % servers.length] as Server;
        runs.get(s)?.push(await measureOne(s, b, conc, secs));
      }
    }
    for (const s of servers) {
      const rs = runs.get(s) ?? [];
      const rps = rs.map((x) => x.r.rps).sort((x, y) => x - y);
      const r = { ...combine(rs.map((x) => x.r)), rps: rps[rps.length >> 1] as number };
      const cpuUs = (rs.reduce((n, x) => n + x.cpu, 0) * 1e6) / Math.max(1, r.requests);
      rows.push({ label: s.label, load: name, conc, r, cpuUs });
    }
  }
  return rows;
}

export async function run(): Promise<void> {
  const small = body(1, 4);
  const large = body(16384, 1024);
  const servers: Server[] = [];
  try {
    for (const c of MODELPIPE_SERVERS) {
      const s = await c.start();
      servers.push({ label: c.label, ...s, stop: () => stopServer(s.proc) });
    }
    const go = await startGoServer('echo');
    servers.push({ label: 'graphpipe-go', url: go.url, proc: go.proc, stop: go.close });
    const rows = await measure(servers, small, large);
    const rss = servers.map((s) => ({ label: s.label, peakRssMiB: peakRssMiB(s.proc.pid) }));

    // Batching proxies in front of the same modelpipe target.
    const target = servers[0] as Server;
    const mpb = await startServer([CLI, 'batcher', '--target', target.url, '--listen', '127.0.0.1:0', '--max-queue-delay-us', '2000']);
    const gpb = await startGraphpipeBatcher(target.url, ['in0'], ['out0'], 8);
    const batchRows: Row[] = [];
    try {
      for (const [label, url] of [
        ['modelpipe batcher', mpb.url],
        ['graphpipe-batcher', gpb.url],
      ] as const) {
        const r = await socketLoad(url, '/', small, 8, SECS);
        if (r.errors > 0) throw new Error(`${label}: ${r.errors} failed requests`);
        batchRows.push({ label, load: '[1,4] float32 via proxy', conc: 8, r, cpuUs: Number.NaN });
      }
    } finally {
      await stopServer(mpb.proc);
      await gpb.close();
    }
    report([...rows, ...batchRows], rss);
  } finally {
    for (const s of servers) await s.stop();
  }
}

function report(rows: Row[], rss: { label: string; peakRssMiB: number }[]): void {
  const ref = (row: Row) =>
    rows.find((x) => x.load === row.load && x.conc === row.conc && (x.label === 'graphpipe-go' || x.label === 'graphpipe-batcher'));
  const ratio = (row: Row) => row.r.rps / (ref(row)?.r.rps ?? Number.NaN);
  console.log(
    table(
      ['server', 'load', 'conc', 'req/s', 'MiB/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', '× graphpipe-go'],
      rows.map((row) => [
        row.label,
        row.load,
        row.conc,
        row.r.rps,
        row.load.startsWith('64') ? row.r.rps * 64 : '',
        row.r.p50,
        row.r.p99,
        Number.isNaN(row.cpuUs) ? '' : row.cpuUs,
        ratio(row),
      ]),
    ),
  );
  console.log(`\npeak RSS: ${rss.map((x) => `${x.label} ${x.peakRssMiB.toFixed(0)} MiB`).join(', ')}`);
  console.log(
    JSON.stringify({
      bench: 'peers',
      loadavg: loadavg().map((x) => Number(x.toFixed(2))),
      rows: rows.map((row) => ({
        server: row.label,
        load: row.load,
        conc: row.conc,
        rps: row.r.rps,
        p50: row.r.p50,
        p99: row.r.p99,
        ...(Number.isNaN(row.cpuUs) ? {} : { cpu_us_per_req: Number(row.cpuUs.toFixed(1)) }),
        ratio: ratio(row),
      })),
      rss,
    }),
  );
}
