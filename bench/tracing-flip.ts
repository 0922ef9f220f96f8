/**
 * Tracing's cost on the small-request server (identity model, [1,4] float32, GraphPipe
 * over loopback), with tracing flipped off and on every two seconds inside one server
 * process under one load that never stops (bench/servers/identity.ts, BENCH_TOGGLE=1:
 * SIGUSR2 flips, SIGUSR1 prints the requests served and the CPU used since the last
 * mark, counted by the server itself).
 *
 * Why beside `tracing-toggle`: on this VM slow spells last seconds and take a third or
 * more of the throughput, so two separate loads often straddle one. Here the load
 * never stops, and each "on" phase is read against the mean of the "off" phases on
 * either side of it, which cancels a drift over those six seconds; a 60-second load
 * gives ~14 such readings. After each flip, BENCH_SKIP_MS are not counted: the new
 * shipper and encoder are compiled into the request path again then (--trace-deopt
 * shows it; req/s per 100 ms dips for ~300 ms after tracing starts), a cost of
 * flipping that a server traced from its start never pays.
 * Prints a table and a final JSON line.
 *   BENCH_SECONDS (one load per process per round, default 60), BENCH_FLIP_MS (phase,
 *   default 2000), BENCH_SKIP_MS (uncounted start of a phase, default 500), BENCH_ROUNDS
 *   (default 3), BENCH_PROCESSES (per build, default 1), BENCH_CONCURRENCY (default 8),
 *   BENCH_PIN=1 (servers on core 1, wrk and the sink on core 0), BENCH_BASELINE=DIR (the
 *   same server from another build, whose identity server knows these marks; its loads
 *   interleaved with these).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { heapFlag } from '../src/cli/relaunch.js';
import { startServer, stopServer, table } from './load.js';
import { CONC, type ToggledBuild, onOffSummary, pin, toggleSetup, toggledBuilds } from './tracing-load.js';
import { runWrkAsync } from './wrk.js';

const SECS = Number(process.env.BENCH_SECONDS ?? 60);
const FLIP_MS = Number(process.env.BENCH_FLIP_MS ?? 2000);
const SKIP_MS = Number(process.env.BENCH_SKIP_MS ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PROCESSES = Number(process.env.BENCH_PROCESSES ?? 1);
const BASELINE = process.env.BENCH_BASELINE;

/** One counted phase: whether tracing was on, req/s and CPU µs per request. */
interface Phase {
  on: boolean;
  rps: number;
  cpu: number;
}

interface Proc {
  build: ToggledBuild;
  server: Awaited<ReturnType<typeof startServer>>;
  on: boolean;
  /** What each mark the server prints is for, in the order they were asked: a counted phase's state, or skipped. */
  expect: ('on' | 'off' | 'skip')[];
  phases: Phase[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads the server's "mark <requests> <cpu µs> <wall ms>" lines into its phases, in the order the marks were asked. */
function listen(p: Proc): void {
  let buf = '';
  p.server.proc.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const m = /^mark (\d+) (\d+) ([\d.]+)$/.exec(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if (m === null) continue;
      const what = p.expect.shift();
      const [requests, cpu, ms] = [Number(m[1]), Number(m[2]), Number(m[3])];
      if (what === 'on' || what === 'off') p.phases.push({ on: what === 'on', rps: (requests * 1000) / ms, cpu: cpu / requests });
    }
  });
}

/** Each "on" phase against the mean of the "off" phases on either side (both present, none a slow outlier dropped: all kept). */
function readings(phases: readonly Phase[]): { rps: number[]; cpu: number[] } {
  const rps: number[] = [];
  const cpu: number[] = [];
  for (let i = 1; i + 1 < phases.length; i++) {
    const [before, on, after] = [phases[i - 1] as Phase, phases[i] as Phase, phases[i + 1] as Phase];
    if (!on.on || before.on || after.on) continue;
    rps.push(on.rps / ((before.rps + after.rps) / 2));
    cpu.push(on.cpu / ((before.cpu + after.cpu) / 2));
  }
  return { rps, cpu };
}

/** One continuous load of `p`, flipping tracing every FLIP_MS; its readings go to its build. */
async function flipUnderLoad(p: Proc, script: string): Promise<void> {
  p.phases = [];
  const load = runWrkAsync(`${p.server.url}/`, script, CONC, SECS);
  await sleep(1000); // wrk's connections up
  const until = performance.now() + (SECS - 2) * 1000;
  while (performance.now() + FLIP_MS < until) {
    p.server.proc.kill('SIGUSR2');
    p.on = !p.on;
    await sleep(SKIP_MS);
    p.expect.push('skip');
    p.server.proc.kill('SIGUSR1');
    await sleep(FLIP_MS - SKIP_MS);
    p.expect.push(p.on ? 'on' : 'off');
    p.server.proc.kill('SIGUSR1');
  }
  await load;
  await sleep(100); // the last mark's line
  const r = readings(p.phases);
  p.build.rps.push(...r.rps);
  p.build.cpu.push(...r.cpu);
}

export async function run(): Promise<Record<string, number>> {
  // A reading needs an "on" phase with an "off" one either side: six phases leave room for two.
  if ((SECS - 2) * 1000 < 6 * FLIP_MS)
    throw new Error(`BENCH_SECONDS=${SECS} is too short for phases of ${FLIP_MS} ms: at least ${2 + (6 * FLIP_MS) / 1000}`);
  const { dir, script, sink, env } = await toggleSetup('bench-tracing-flip');
  const flag = heapFlag();
  const builds = toggledBuilds(BASELINE);
  const procs: Proc[] = [];
  try {
    for (let k = 0; k < PROCESSES; k++)
      for (const b of builds) {
        const args = [...(flag === undefined ? [] : [flag]), join(b.dist, 'bench', 'servers', 'identity.js')];
        const p: Proc = { build: b, server: await startServer(args, env), on: true, expect: [], phases: [] };
        listen(p);
        procs.push(p);
      }
    if (process.env.BENCH_PIN === '1') {
      for (const p of procs) pin(p.server.proc.pid, 1);
      pin(sink.proc.pid, 0);
      pin(process.pid, 0);
    }
    // Warm-up: each process loaded with tracing on, then off (both paths compiled), readings dropped.
    for (const p of procs) {
      await runWrkAsync(`${p.server.url}/`, script, CONC, 3);
      p.server.proc.kill('SIGUSR2');
      p.on = false;
      await runWrkAsync(`${p.server.url}/`, script, CONC, 2);
    }
    // Rounds: each process in turn, in the other order every other round.
    for (let i = 0; i < ROUNDS; i++) for (const p of i % 2 === 0 ? procs : [...procs].reverse()) await flipUnderLoad(p, script);
  } finally {
    for (const p of procs) await stopServer(p.server.proc);
    await stopServer(sink.proc);
    rmSync(dir, { recursive: true, force: true });
  }
  const out: Record<string, number> = {};
  const rows: string[][] = [];
  for (const b of builds) {
    const r = onOffSummary(b.key, builds.length > 1 ? `${b.name}: ` : '', b.rps, b.cpu, 'readings', String(b.rps.length));
    Object.assign(out, r.out);
    rows.push(...r.rows);
  }
  if (BASELINE) out.on_vs_off_vs_base = (out.on_vs_off as number) / (out.base_on_vs_off as number);
  console.log(
    `\nTracing flipped every ${FLIP_MS} ms under one load (first ${SKIP_MS} ms of each phase not counted): identity ([1,4] float32, GraphPipe, loopback), c=${CONC}, wrk, ${PROCESSES} process${PROCESSES > 1 ? 'es' : ''} per build, ${ROUNDS} rounds of ${SECS} s${process.env.BENCH_PIN === '1' ? ', servers pinned to core 1, wrk and sink to core 0' : ''}\n`,
  );
  console.log(table(['reading (each on phase / the off phases beside it)', 'median', 'quartiles', 'readings'], rows));
  console.log(
    JSON.stringify({
      bench: 'tracing-flip',
      concurrency: CONC,
      processes: PROCESSES,
      rounds: ROUNDS,
      seconds: SECS,
      flip_ms: FLIP_MS,
      skip_ms: SKIP_MS,
      ...out,
    }),
  );
  return out;
}
