/**
 * Tracing overhead on the small-request server benchmark (identity model, [1,4]
 * float32, GraphPipe over loopback), in interleaved rounds of one run:
 *  - off: no OTEL_* settings (the default);
 *  - on: every request sampled (always_on), spans exported over OTLP/HTTP (protobuf, the default) to a
 *    receiver process on loopback;
 *  - off + traceparent: tracing off, each request carrying a traceparent header (the
 *    pass-through path);
 *  - base (only with BENCH_BASELINE=DIR): the same server built from the commit
 *    before tracing (a `git worktree` of it, built, in DIR), for "off costs ≤ 2 %".
 * Medians of per-round req/s, ratios against off (and off against base). Targets: on
 * ≥ 0.90 of off, off ≥ 0.98 of base. Beside req/s, the server process's CPU time per
 * request (from /proc, Linux): on a shared, loaded machine req/s follows the
 * neighbours, CPU per request much less. Prints a table and a final JSON line.
 *   BENCH_SECONDS (per round, default 2), BENCH_ROUNDS (default 7), BENCH_CONCURRENCY (default 8)
 *   BENCH_MODEL=FILE.onnx with BENCH_SHAPE=1,1,28,28: the same on `modelpipe serve FILE` (a
 *   model with a real run, where tracing's share is smaller).
 *   BENCH_PIN=1: the servers on core 1, this process (the load generator) and the sink on
 *   core 0 (`taskset`, Linux). On a 2-core VM unpinned rounds of one build differ by up
 *   to 2x; pinned they agree within ~10 %, so a ratio says more.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { heapFlag } from '../src/cli/relaunch.js';
import { encodeRequest } from '../src/protocol/graphpipe/index.js';
import { Tensor } from '../src/tensor/index.js';
import { type LoadResult, load, startServer, stopServer, table } from './load.js';

const here = dirname(fileURLToPath(import.meta.url));
const SECS = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const CONC = Number(process.env.BENCH_CONCURRENCY ?? 8);
const BASELINE = process.env.BENCH_BASELINE;
/** BENCH_MODEL: an ONNX model served by the CLI instead of the identity function; BENCH_SHAPE its float32 input shape. */
const MODEL = process.env.BENCH_MODEL;
const SHAPE = (process.env.BENCH_SHAPE ?? '1,1,28,28').split(',').map(Number);
const TRACEPARENT = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };

/** Moves every thread of `pid` to `core` (taskset -a: the threads it has; later ones inherit). */
function pin(pid: number | undefined, core: number): void {
  const r = spawnSync('taskset', ['-a', '-cp', String(core), String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`BENCH_PIN: taskset failed for pid ${pid}: ${r.error?.message ?? r.stderr}`);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function cpuSeconds(proc: ChildProcess): number {
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
function untraced(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
}

interface Config {
  name: string;
  url: string;
  proc: ChildProcess;
  /** Server CPU µs per request, per round. */
  cpu: number[];
  headers: Record<string, string>;
  rps: number[];
  p99: number[];
}

export async function run(): Promise<Record<string, number>> {
  const shape = MODEL === undefined ? [1, 4] : SHAPE;
  const body = encodeRequest({
    type: 'infer',
    config: '',
    inputNames: [],
    inputs: [new Tensor('float32', shape, new Float32Array(shape.reduce((a, d) => a * d, 1)))],
    outputNames: [],
  });
  const flag = heapFlag();
  // The identity function model, or `modelpipe serve BENCH_MODEL` (an ONNX model: a real run).
  const script = (root: string) =>
    MODEL === undefined
      ? [...(flag === undefined ? [] : [flag]), join(root, 'bench', 'servers', 'identity.js')]
      : [join(root, 'src', 'cli', 'main.js'), 'serve', MODEL, '--listen', '127.0.0.1:0'];
  const dist = join(here, '..');
  const sink = await startServer([join(here, 'servers', 'otlp-sink.js')], undefined, /http:\/\/127\.0\.0\.2:\d+/);
  const off = await startServer(script(dist), untraced());
  // Its own process, so whatever the pass-through leaves behind (garbage, a warmer
  // trace path) cannot tax "off".
  const passing = await startServer(script(dist), untraced());
  const on = await startServer(script(dist), {
    ...untraced(),
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
    OTEL_TRACES_SAMPLER: 'always_on',
    OTEL_SERVICE_NAME: 'bench-tracing',
  });
  const base = BASELINE ? await startServer(script(join(BASELINE, 'dist')), untraced()) : undefined;
  const configs: Config[] = [
    { name: 'off', ...off, headers: {}, rps: [], p99: [], cpu: [] },
    { name: 'on (always_on, OTLP/protobuf)', ...on, headers: {}, rps: [], p99: [], cpu: [] },
    { name: 'off + traceparent', ...passing, headers: TRACEPARENT, rps: [], p99: [], cpu: [] },
  ];
  if (base) configs.push({ name: `base (${BASELINE})`, ...base, headers: {}, rps: [], p99: [], cpu: [] });
  if (process.env.BENCH_PIN === '1') {
    for (const c of configs) pin(c.proc.pid, 1);
    pin(sink.proc.pid, 0);
    pin(process.pid, 0);
  }
  try {
    for (const c of configs) await load(c.url, '/', body, CONC, 1, c.headers); // warm-up
    for (let i = 0; i < ROUNDS; i++) {
      // Each round in a rotated order, so no configuration always runs right after another.
      for (let k = 0; k < configs.length; k++) {
        const c = configs[(i + k) % configs.length] as Config;
        const cpu0 = cpuSeconds(c.proc);
        const r: LoadResult = await load(c.url, '/', body, CONC, SECS, c.headers);
        c.cpu.push(((cpuSeconds(c.proc) - cpu0) * 1e6) / r.requests);
        if (r.errors) throw new Error(`${r.errors} errors (${c.name})`);
        c.rps.push(r.rps);
        c.p99.push(r.p99);
      }
    }
  } finally {
    for (const p of [off, passing, on, base, sink]) if (p) await stopServer(p.proc);
  }
  const offRps = median(configs[0]?.rps ?? []);
  const offCpu = median(configs[0]?.cpu ?? []);
  const out: Record<string, number> = {};
  const keys = ['off', 'on', 'off_traceparent', 'base'];
  const rows = configs.map((c, i) => {
    const rps = median(c.rps);
    out[`${keys[i]}_rps`] = rps;
    out[`${keys[i]}_p99_ms`] = median(c.p99);
    const cpu = median(c.cpu);
    out[`${keys[i]}_cpu_us_per_req`] = cpu;
    if (i > 0 && i < 3) {
      out[`${keys[i]}_vs_off`] = rps / offRps;
      out[`${keys[i]}_cpu_vs_off`] = cpu / offCpu;
    }
    if (i === 3) {
      out.off_vs_base = offRps / rps;
      out.off_cpu_vs_base = offCpu / cpu;
    }
    const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
    const vs = i === 0 ? '' : i < 3 ? pct(rps / offRps) : `off: ${pct(offRps / rps)}`;
    const cpuVs = i === 0 ? '' : i < 3 ? pct(cpu / offCpu) : `off: ${pct(offCpu / cpu)}`;
    return [c.name, rps, median(c.p99), vs, cpu, cpuVs];
  });
  const pinned = process.env.BENCH_PIN === '1' ? ', servers pinned to core 1, load and sink to core 0' : '';
  console.log(
    `\nTracing overhead: ${MODEL ?? 'identity'} ([${shape}] float32, GraphPipe, loopback), c=${CONC}, ${ROUNDS} rounds × ${SECS} s, medians${pinned}\n`,
  );
  console.log(table(['configuration', 'req/s', 'p99 ms', 'req/s vs off', 'server CPU µs/req', 'CPU vs off'], rows));
  console.log(JSON.stringify({ bench: 'tracing', model: MODEL ?? 'identity', concurrency: CONC, rounds: ROUNDS, seconds: SECS, ...out }));
  return out;
}
