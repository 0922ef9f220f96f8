/**
 * Tracing overhead on the small-request server benchmark (identity model, [1,4]
 * float32, GraphPipe over loopback), in interleaved rounds of one run:
 *  - off: no OTEL_* settings (the default);
 *  - on: every request sampled (always_on), spans exported over OTLP/HTTP (protobuf, the default) to a
 *    receiver process on loopback;
 *  - off + traceparent: tracing off, each request carrying a traceparent header (the
 *    pass-through path);
 *  - base (only with BENCH_BASELINE=DIR): the same server built from the commit
 *    before tracing (a `git worktree` of it, built, in DIR), for "off costs ≤ 2 %";
 *  - base on (only with BENCH_BASELINE=DIR and BENCH_BASELINE_ON=1): that build traced, to
 *    compare two tracing designs in one run (on against base on, paired);
 *  - off + BENCH_CONTROL_US (default 10) µs of busy work per request (identity only): the
 *    control. On a 2-core VM a longer request path costs more than its own CPU (the load
 *    generator idles, and waking it is charged to the server's writes), so "on" is read
 *    against what a known amount of extra work costs on the same machine in the same run.
 * Medians of per-load req/s, ratios against off (and off against base). Targets: on
 * ≥ 0.90 of off, off ≥ 0.98 of base. Also paired: each round loads every configuration's
 * k-th process back to back (a group), and the median of the groups' ratios is given
 * beside the ratio of medians. The VM has slow spells of seconds, in which every
 * process runs 2-10x slower; a pair spans a few seconds, so mostly both or neither of
 * its loads fall in one. Beside req/s, the server process's CPU time per
 * request (from /proc, Linux): on a shared, loaded machine req/s follows the
 * neighbours, CPU per request much less. Prints a table and a final JSON line.
 *   BENCH_SECONDS (per load, default 2), BENCH_ROUNDS (default 5), BENCH_CONCURRENCY (default 8),
 *   BENCH_PROCESSES (server processes per configuration, default 3; each round loads each once)
 *   BENCH_MODEL=FILE.onnx with BENCH_SHAPE=1,1,28,28: the same on `modelpipe serve FILE` (a
 *   model with a real run, where tracing's share is smaller).
 *   BENCH_PIN=1: the servers on core 1, this process (the load generator) and the sink on
 *   core 0 (`taskset`, Linux). On a 2-core VM unpinned rounds of one build differ by up
 *   to 2x; pinned they agree within ~10 %, so a ratio says more.
 *   BENCH_LOAD=wrk: wrk (bench/wrk.ts) loads the servers instead of this process's undici
 *   pool. The undici load keeps its core ~85 % busy, so the sink's work on that core
 *   (a few ms per export) slows the load, and through it every traced server; wrk
 *   leaves that core mostly idle, so the ratio is more nearly the server's own cost.
 */
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { heapFlag } from '../src/cli/relaunch.js';
import { encodeRequest } from '../src/protocol/graphpipe/index.js';
import { Tensor } from '../src/tensor/index.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { type LoadResult, startServer, stopServer, table } from './load.js';
import { CONC, WRK, cpuSeconds, loadOnce, median, pin, tracedSink, untraced } from './tracing-load.js';
import { wrkPostScript } from './wrk.js';

const here = dirname(fileURLToPath(import.meta.url));
const SECS = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const PROCESSES = Number(process.env.BENCH_PROCESSES ?? 3);
/** BENCH_CONTROL_US: busy work per request of the control configuration (0: none). */
const CONTROL_US = Number(process.env.BENCH_CONTROL_US ?? 10);
const BASELINE = process.env.BENCH_BASELINE;
/** BENCH_MODEL: an ONNX model served by the CLI instead of the identity function; BENCH_SHAPE its float32 input shape. */
const MODEL = process.env.BENCH_MODEL;
const SHAPE = (process.env.BENCH_SHAPE ?? '1,1,28,28').split(',').map(Number);
const TRACEPARENT = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };

interface Config {
  name: string;
  /** Its name in the JSON line; "base" is compared the other way round (off against it). */
  key: string;
  /** BENCH_PROCESSES server processes of this configuration, loaded in turn. */
  servers: { url: string; proc: ChildProcess }[];
  /** Server CPU µs per request, per load (all processes, all rounds). */
  cpu: number[];
  /** The same, by process: how far processes of one build differ. */
  cpuByProcess: number[][];
  headers: Record<string, string>;
  /** BENCH_LOAD=wrk: the script that POSTs the body with `headers`. */
  wrkScript: string | undefined;
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
  const dir = mkdtempSync(join(tmpdir(), 'mp-bench-tracing-'));
  const bodyFile = join(dir, 'body.bin');
  writeFileSync(bodyFile, body);
  const flag = heapFlag();
  // The identity function model, or `modelpipe serve BENCH_MODEL` (an ONNX model: a real run).
  const script = (root: string) =>
    MODEL === undefined
      ? [...(flag === undefined ? [] : [flag]), join(root, 'bench', 'servers', 'identity.js')]
      : [join(root, 'src', 'cli', 'main.js'), 'serve', MODEL, '--listen', '127.0.0.1:0'];
  const dist = join(here, '..');
  const { sink, env: traced } = await tracedSink('bench-tracing');
  // Several processes per configuration: processes of one build differ by ~10 % in CPU per request
  // (memory layout, JIT decisions), more than the effects measured here. The pass-through
  // has its own processes, so whatever it leaves behind (garbage, a warmer trace path) cannot tax "off".
  const servers = async (root: string, env: NodeJS.ProcessEnv) => {
    const out: Config['servers'] = [];
    for (let k = 0; k < PROCESSES; k++) out.push(await startServer(script(root), env));
    return out;
  };
  const config = (name: string, key: string, s: Config['servers'], headers: Record<string, string>): Config => ({
    name,
    key,
    servers: s,
    headers,
    wrkScript: WRK ? wrkPostScript(join(dir, `${key}.lua`), bodyFile, headers) : undefined,
    cpu: [],
    cpuByProcess: s.map(() => []),
    rps: [],
    p99: [],
  });
  const configs: Config[] = [
    config('off', 'off', await servers(dist, untraced()), {}),
    config('on (always_on, OTLP/protobuf)', 'on', await servers(dist, traced), {}),
    config('off + traceparent', 'off_traceparent', await servers(dist, untraced()), TRACEPARENT),
  ];
  if (BASELINE) configs.push(config(`base (${BASELINE})`, 'base', await servers(join(BASELINE, 'dist'), untraced()), {}));
  // BENCH_BASELINE_ON=1: the baseline traced too, to compare two tracing designs in one run.
  if (BASELINE && process.env.BENCH_BASELINE_ON === '1')
    configs.push(config(`base on (${BASELINE})`, 'base_on', await servers(join(BASELINE, 'dist'), traced), {}));
  // The control: off with CONTROL_US of busy work per request. On a small VM a longer request
  // path costs more than its own CPU (the load generator idles, and its wake-ups are dearer), so
  // "on" is read against what the same machine does with a known amount of extra work.
  if (MODEL === undefined && CONTROL_US > 0) {
    configs.push(
      config(`off + ${CONTROL_US} µs busy work`, 'control', await servers(dist, { ...untraced(), BENCH_BURN_US: String(CONTROL_US) }), {}),
    );
  }
  if (process.env.BENCH_PIN === '1') {
    for (const c of configs) for (const s of c.servers) pin(s.proc.pid, 1);
    pin(sink.proc.pid, 0);
    pin(process.pid, 0);
  }
  const slots = configs.flatMap((c) => c.servers.map((s, k) => ({ c, s, k })));
  try {
    for (const { c, s } of slots) await loadOnce(s.url, body, 1, c.headers, c.wrkScript); // warm-up
    for (let i = 0; i < ROUNDS; i++) {
      // A round is PROCESSES groups; a group loads every configuration's k-th process back to
      // back, so its loads are seconds apart and compared as a pair (the VM's speed drifts
      // over tens of seconds). Groups and the order within them rotate from round to round,
      // and the order runs backwards in odd rounds, so no configuration always follows the same one.
      for (let g = 0; g < PROCESSES; g++) {
        const k = (g + i) % PROCESSES;
        for (let j = 0; j < configs.length; j++) {
          const step = i % 2 === 0 ? j : configs.length - 1 - j;
          const c = configs[(step + i) % configs.length] as Config;
          const s = c.servers[k] as Config['servers'][number];
          const cpu0 = cpuSeconds(s.proc);
          const r: LoadResult = await loadOnce(s.url, body, SECS, c.headers, c.wrkScript);
          const cpu = ((cpuSeconds(s.proc) - cpu0) * 1e6) / r.requests;
          if (r.errors) throw new Error(`${r.errors} errors (${c.name})`);
          c.cpu.push(cpu);
          c.cpuByProcess[k]?.push(cpu);
          c.rps.push(r.rps);
          c.p99.push(r.p99);
        }
      }
    }
  } finally {
    for (const { s } of slots) await stopServer(s.proc);
    await stopServer(sink.proc);
    rmSync(dir, { recursive: true, force: true });
  }
  const offRps = median(configs[0]?.rps ?? []);
  const offCpu = median(configs[0]?.cpu ?? []);
  const out: Record<string, number> = {};
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const off = configs[0] as Config;
  // Every configuration's n-th load fell in the same group (each group loads each configuration once).
  /** Median over groups of a / b: loads seconds apart, so the VM's slow spells fall on both. */
  const paired = (a: readonly number[], b: readonly number[]) => median(a.map((x, g) => x / (b[g] as number)));
  const rows = configs.map((c, i) => {
    const rps = median(c.rps);
    const cpu = median(c.cpu);
    out[`${c.key}_rps`] = rps;
    out[`${c.key}_p99_ms`] = median(c.p99);
    out[`${c.key}_cpu_us_per_req`] = cpu;
    let vs = '';
    let cpuVs = '';
    let pairs = '';
    if (c.key === 'base') {
      out.off_vs_base = offRps / rps;
      out.off_cpu_vs_base = offCpu / cpu;
      out.off_vs_base_paired = paired(off.rps, c.rps);
      vs = `off: ${pct(offRps / rps)}`;
      cpuVs = `off: ${pct(offCpu / cpu)}`;
      pairs = `off: ${pct(out.off_vs_base_paired)}`;
    } else if (i > 0) {
      out[`${c.key}_vs_off`] = rps / offRps;
      out[`${c.key}_cpu_vs_off`] = cpu / offCpu;
      out[`${c.key}_vs_off_paired`] = paired(c.rps, off.rps);
      out[`${c.key}_cpu_vs_off_paired`] = paired(c.cpu, off.cpu);
      vs = pct(rps / offRps);
      cpuVs = pct(cpu / offCpu);
      pairs = `${pct(out[`${c.key}_vs_off_paired`] as number)} / ${pct(out[`${c.key}_cpu_vs_off_paired`] as number)}`;
    }
    const spread = c.cpuByProcess.map((x) => median(x).toFixed(0)).join(' / ');
    return [c.name, rps, median(c.p99), vs, cpu, cpuVs, pairs, spread];
  });
  const on = configs[1] as Config;
  const baseOn = configs.find((c) => c.key === 'base_on');
  if (baseOn) {
    out.on_vs_base_on_paired = paired(on.rps, baseOn.rps);
    out.on_cpu_vs_base_on_paired = paired(on.cpu, baseOn.cpu);
  }
  const pinned = `${process.env.BENCH_PIN === '1' ? ', servers pinned to core 1, load and sink to core 0' : ''}${WRK ? ', load by wrk' : ''}`;
  console.log(
    `\nTracing overhead: ${MODEL ?? 'identity'} ([${shape}] float32, GraphPipe, loopback), c=${CONC}, ${PROCESSES} processes per configuration, ${ROUNDS} rounds × ${SECS} s each, medians${pinned}\n`,
  );
  console.log(
    table(
      ['configuration', 'req/s', 'p99 ms', 'req/s vs off', 'server CPU µs/req', 'CPU vs off', 'paired req/s / CPU', 'by process'],
      rows,
    ),
  );
  if (baseOn)
    console.log(
      `\non against base on, paired: req/s ${pct(out.on_vs_base_on_paired as number)}, CPU ${pct(out.on_cpu_vs_base_on_paired as number)}`,
    );
  console.log(
    JSON.stringify({
      bench: 'tracing',
      model: MODEL ?? 'identity',
      concurrency: CONC,
      load: WRK ? 'wrk' : 'undici',
      processes: PROCESSES,
      rounds: ROUNDS,
      seconds: SECS,
      ...out,
    }),
  );
  return out;
}
