/**
 * Soak (issue 14): `modelpipe serve` squeezenet with batching on, its default server
 * limits in force, held at saturation by 32 closed-loop clients of single-image
 * requests for `--minutes` (default 10), while a separate process polls /health/live.
 * Warm-up (buffer pools and heap reaching their working size) is the first half of
 * the run, at most 60 s. `--worker-nice N` is passed to the server.
 * Targets: 0 non-2xx answers, server RSS flat within ±10 % after warm-up (every
 * sample against the median of the samples after warm-up), health p99 reported.
 * Prints a table (RSS per tenth of the run) and a final JSON line.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { encodeRequest } from '../src/protocol/graphpipe/index.js';
import { Tensor } from '../src/tensor/index.js';
import { closedLoop, percentile, runJSON, startServer, stopServer, table } from './load.js';

const here = dirname(fileURLToPath(import.meta.url));
const shared = process.env.MODELPIPE_SHARED ?? join(here, '..', '..', '..', 'shared');
const SQUEEZE = join(shared, 'models', 'squeezenet1.1.onnx');
const CLI = join(here, '..', 'src', 'cli', 'main.js');
const CLIENTS = 32;
const SAMPLE_MS = 2_000;

/** The process that serves: the CLI re-executes itself once (relaunch.ts), so the server is its child when there is one. */
function serverPid(launcher: number): number {
  try {
    const kids = readFileSync(`/proc/${launcher}/task/${launcher}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return kids.length > 0 ? Number(kids[0]) : launcher;
  } catch {
    return launcher;
  }
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

export async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(3),
    options: { minutes: { type: 'string' }, 'worker-nice': { type: 'string' } },
    strict: false,
  });
  const minutes = Number(values.minutes ?? process.env.BENCH_SOAK_MINUTES ?? 10);
  if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, got ${String(values.minutes)}`);
  if (!existsSync(SQUEEZE)) throw new Error(`shared data absent: ${SQUEEZE} (set MODELPIPE_SHARED)`);
  const seconds = minutes * 60;
  const warmupS = Math.min(60, seconds * 0.5);
  // The server's default (nice 19) unless told: on a machine shared with other busy
  // processes, nice-19 inference threads get almost no CPU and requests time out.
  const nice = typeof values['worker-nice'] === 'string' ? ['--worker-nice', values['worker-nice']] : [];

  const srv = await startServer([CLI, 'serve', SQUEEZE, '--listen', '127.0.0.1:0', '--instances', '2', '--batch', ...nice]);
  const pid = serverPid(srv.proc.pid as number);
  const body = encodeRequest({
    type: 'infer',
    config: '',
    inputNames: [],
    inputs: [new Tensor('float32', [1, 3, 224, 224], new Float32Array(3 * 224 * 224).fill(100))],
    outputNames: [],
  });
  const statuses = new Map<number, number>();
  const samples: { t: number; rss: number }[] = [];
  const t0 = performance.now();
  const sampler = setInterval(() => samples.push({ t: (performance.now() - t0) / 1000, rss: rssMiB(pid) }), SAMPLE_MS);
  const pool = new Pool(srv.url, { connections: CLIENTS, pipelining: 1 });
  let result: Awaited<ReturnType<typeof closedLoop>>;
  let health: { n: number; p50: number; p99: number; max: number };
  try {
    [result, health] = await Promise.all([
      closedLoop(
        async () => {
          const r = await pool.request({ method: 'POST', path: '/', body, headers: { 'content-type': 'application/octet-stream' } });
          await r.body.arrayBuffer();
          statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
          return { ok: r.statusCode >= 200 && r.statusCode < 300 };
        },
        CLIENTS,
        seconds,
      ),
      runJSON<{ n: number; p50: number; p99: number; max: number }>([
        join(here, 'servers', 'health-poller.js'),
        srv.url,
        String(seconds - 1),
      ]),
    ]);
  } finally {
    clearInterval(sampler);
    await pool.close();
    await stopServer(srv.proc);
  }
  report(minutes, warmupS, result, health, statuses, samples);
  if (nice.length > 0) console.error(`(server run with --worker-nice ${nice[1]})`);
}

function report(
  minutes: number,
  warmupS: number,
  result: Awaited<ReturnType<typeof closedLoop>>,
  health: { n: number; p50: number; p99: number; max: number },
  statuses: Map<number, number>,
  samples: { t: number; rss: number }[],
): void {
  const after = samples.filter((s) => s.t >= warmupS).map((s) => s.rss);
  const sorted = [...after].sort((a, b) => a - b);
  const base = percentile(sorted, 50);
  const lo = (sorted[0] ?? Number.NaN) / base - 1;
  const hi = (sorted.at(-1) ?? Number.NaN) / base - 1;
  const span = (samples.at(-1)?.t ?? 0) / 10;
  const rows: (string | number)[][] = [];
  for (let k = 0; k < 10; k++) {
    const inside = samples.filter((s) => s.t >= k * span && s.t < (k + 1) * span).map((s) => s.rss);
    if (inside.length === 0) continue;
    const med = percentile(
      [...inside].sort((a, b) => a - b),
      50,
    );
    const phase = (k + 1) * span <= warmupS ? 'warm-up' : `${((med / base - 1) * 100).toFixed(1)} %`;
    rows.push([`${(k * span).toFixed(0)}–${((k + 1) * span).toFixed(0)} s`, med, phase]);
  }
  const non2xx = [...statuses].filter(([s]) => s < 200 || s >= 300).reduce((n, [, c]) => n + c, 0);
  console.log(`\nSoak: squeezenet, batching on, ${CLIENTS} clients of single-image requests, ${minutes} min\n`);
  console.log(table(['time', 'server RSS MiB (median)', 'vs post-warm-up median'], rows));
  console.log(
    `\nrequests ${result.requests} (${result.rps.toFixed(1)}/s), p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms; ` +
      `statuses ${JSON.stringify(Object.fromEntries(statuses))}; health p50 ${health.p50.toFixed(2)} ms, p99 ${health.p99.toFixed(2)} ms ` +
      `(${health.n} polls); RSS after warm-up ${base.toFixed(0)} MiB, range ${(lo * 100).toFixed(1)} % … +${(hi * 100).toFixed(1)} %`,
  );
  const out = {
    bench: 'soak',
    minutes,
    warmup_s: warmupS,
    requests: result.requests,
    rps: result.rps,
    p99_ms: result.p99,
    non_2xx: non2xx,
    statuses: Object.fromEntries(statuses),
    health_p50_ms: health.p50,
    health_p99_ms: health.p99,
    health_polls: health.n,
    rss_median_mib: base,
    rss_min_vs_median: lo,
    rss_max_vs_median: hi,
    targets: { zero_non_2xx: non2xx === 0 && result.requests > 0, rss_flat_10pct: Math.abs(lo) <= 0.1 && Math.abs(hi) <= 0.1 },
  };
  console.log(`\n${JSON.stringify(out)}`);
}
