/**
 * What the tracing benchmarks (tracing.ts, tracing-toggle.ts, tracing-flip.ts) share: one closed-loop
 * load by undici or wrk, the loopback OTLP sink and the environment that traces a
 * server to it, pinning to a core, and a process tree's CPU time.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeRequest } from '../src/protocol/graphpipe/index.js';
import { Tensor } from '../src/tensor/index.js';
import { type LoadResult, load, startServer } from './load.js';
import { runWrkAsync, wrkPostScript } from './wrk.js';

const here = dirname(fileURLToPath(import.meta.url));
/** BENCH_CONCURRENCY: connections of every load (default 8). */
export const CONC = Number(process.env.BENCH_CONCURRENCY ?? 8);
/** BENCH_LOAD=wrk: wrk loads the servers instead of this process's undici pool. */
export const WRK = process.env.BENCH_LOAD === 'wrk';

/** Moves every thread of `pid` to `core` (taskset -a: the threads it has; later ones inherit). */
export function pin(pid: number | undefined, core: number): void {
  const r = spawnSync('taskset', ['-a', '-cp', String(core), String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`BENCH_PIN: taskset failed for pid ${pid}: ${r.error?.message ?? r.stderr}`);
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.round(q * (s.length - 1))] as number;
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

/**
 * A build's on/off ratios (req/s, and server CPU per request) as the tracing-toggle
 * and tracing-flip benches report them: JSON entries prefixed `key` (median, quartiles,
 * CPU median, `count` readings) and two table rows, `last` in the req/s row's last column.
 */
export function onOffSummary(
  key: string,
  label: string,
  rps: readonly number[],
  cpu: readonly number[],
  count: string,
  last: string,
): { out: Record<string, number>; rows: string[][] } {
  const out = {
    [`${key}on_vs_off`]: median(rps),
    [`${key}on_vs_off_q1`]: quantile(rps, 0.25),
    [`${key}on_vs_off_q3`]: quantile(rps, 0.75),
    [`${key}on_cpu_vs_off`]: median(cpu),
    [`${key}${count}`]: rps.length,
  };
  const spread = (xs: readonly number[]) => `${pct(quantile(xs, 0.25))} – ${pct(quantile(xs, 0.75))}`;
  const rows = [
    [`${label}req/s on / off`, pct(median(rps)), spread(rps), last],
    [`${label}server CPU µs/request on / off`, pct(median(cpu)), spread(cpu), ''],
  ];
  return { out, rows };
}

export function cpuSeconds(proc: ChildProcess): number {
  return proc.pid === undefined ? Number.NaN : treeCpu(proc.pid);
}

/** CPU seconds of `pid` and its descendants (the CLI's launcher runs the server as its child). */
function treeCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    let total = (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const kids = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      for (const k of kids === '' ? [] : kids.split(' ')) total += treeCpu(Number(k));
    }
    return total;
  } catch {
    return Number.NaN;
  }
}

/** The environment without any OTEL_* setting of the caller's. */
export function untraced(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
}

/** One closed-loop load of `seconds` at CONC (BENCH_CONCURRENCY): this process's undici pool, or wrk with `wrkScript` (BENCH_LOAD=wrk). */
export async function loadOnce(
  url: string,
  body: Uint8Array,
  seconds: number,
  headers: Record<string, string>,
  wrkScript: string | undefined,
): Promise<LoadResult> {
  if (wrkScript === undefined) return load(url, '/', body, CONC, seconds, headers);
  const r = await runWrkAsync(`${url}/`, wrkScript, CONC, seconds);
  return { requests: r.requests, seconds, rps: r.rps, p50: r.p50Ms, p99: r.p99Ms, errors: 0 };
}

/** The loopback OTLP sink (bench/servers/otlp-sink.ts) and the environment that traces a server to it, every request sampled. */
export async function tracedSink(serviceName: string): Promise<{ sink: Awaited<ReturnType<typeof startServer>>; env: NodeJS.ProcessEnv }> {
  const sink = await startServer([join(here, 'servers', 'otlp-sink.js')], undefined, /http:\/\/127\.0\.0\.2:\d+/);
  const env = { ...untraced(), OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_TRACES_SAMPLER: 'always_on', OTEL_SERVICE_NAME: serviceName };
  return { sink, env };
}

/**
 * What the toggling benches (tracing-toggle, tracing-flip) load and start with: the
 * small request ([1,4] float32, GraphPipe) and its wrk script in `dir` (theirs to
 * remove), the sink, and the environment of an identity server that toggles (BENCH_TOGGLE=1).
 */
export async function toggleSetup(name: string) {
  const body = encodeRequest({
    type: 'infer',
    config: '',
    inputNames: [],
    inputs: [new Tensor('float32', [1, 4], new Float32Array(4))],
    outputNames: [],
  });
  const dir = mkdtempSync(join(tmpdir(), `mp-${name}-`));
  const bodyFile = join(dir, 'body.bin');
  writeFileSync(bodyFile, body);
  const script = wrkPostScript(join(dir, 'post.lua'), bodyFile);
  const traced = await tracedSink(name);
  return { body, dir, script, sink: traced.sink, env: { ...traced.env, BENCH_TOGGLE: '1' } };
}

/** A build under a toggling bench: its dist/ and its on/off ratios (req/s, CPU per request). */
export interface ToggledBuild {
  name: string;
  /** Prefix of its keys in the JSON line ('' for this build). */
  key: string;
  dist: string;
  rps: number[];
  cpu: number[];
}

/** This build, and with BENCH_BASELINE=DIR the same server from another (a worktree with dist/). */
export function toggledBuilds(baseline: string | undefined): ToggledBuild[] {
  const builds: ToggledBuild[] = [{ name: 'this build', key: '', dist: join(here, '..'), rps: [], cpu: [] }];
  if (baseline) builds.push({ name: `base (${baseline})`, key: 'base_', dist: join(baseline, 'dist'), rps: [], cpu: [] });
  return builds;
}
