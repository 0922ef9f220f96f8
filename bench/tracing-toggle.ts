/**
 * Tracing's cost on the small-request server (identity model, [1,4] float32, GraphPipe
 * over loopback), measured within each server process: every process is started traced
 * (always_on, OTLP/protobuf to a loopback sink) and told to turn tracing off and on
 * again (SIGUSR2, bench/servers/identity.ts with BENCH_TOGGLE=1), and each pair of
 * loads, one off and one on, seconds apart, gives one on/off ratio of req/s and of
 * server CPU per request.
 *
 * Why beside `tracing` (separate processes per configuration): identical server
 * processes here differ by 10–25 % in CPU per request (memory layout, JIT decisions), so
 * an off process and an on process differ by more than tracing does; within one process
 * that difference cancels. What it does not measure: an off phase runs code that has
 * seen tracing on, so it can be a little slower than a never-traced process (`tracing`
 * gives that figure). The order within a pair alternates by round.
 * Prints a table and a final JSON line.
 *   BENCH_SECONDS (per load, default 1), BENCH_ROUNDS (default 20), BENCH_PROCESSES (default 3),
 *   BENCH_CONCURRENCY (default 8), BENCH_LOAD=wrk (wrk instead of this process's undici pool),
 *   BENCH_PIN=1 (servers on core 1, load and sink on core 0), BENCH_BASELINE=DIR (the same
 *   server from another build, a worktree with dist/: as many processes again, interleaved
 *   with these, each build's ratios side by side; DIR's identity server must know BENCH_TOGGLE),
 *   BENCH_SIMULTANEOUS=1 (pairs of processes, one on and one off, loaded at the same time,
 *   swapping every round: the VM's slow spells, seconds long, then hit both halves of a pair;
 *   two rounds make one reading; BENCH_PROCESSES is rounded to an even number per build),
 *   BENCH_WARM_SECONDS (an unmeasured load after each toggle, default 1, whole seconds under wrk; 0 for none).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { heapFlag } from '../src/cli/relaunch.js';
import { type LoadResult, startServer, stopServer, table } from './load.js';
import {
  CONC,
  type ToggledBuild,
  WRK,
  cpuSeconds,
  loadOnce,
  median,
  onOffSummary,
  pin,
  toggleSetup,
  toggledBuilds,
} from './tracing-load.js';

const SECS = Number(process.env.BENCH_SECONDS ?? 1);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const PROCESSES = Number(process.env.BENCH_PROCESSES ?? 3);
/** After a toggle: stopping flushes the spans left (one export), starting connects anew. */
const SETTLE_MS = 500;
/**
 * An unmeasured load after each toggle (seconds; wrk takes whole ones). Each start of tracing makes a new
 * shipper and encoder, so the request path's optimized code meets new call targets
 * and maps and is deoptimized and compiled again (--trace-deopt shows it): a cost of
 * the toggling, which a server traced from its start never pays.
 */
const WARM = Number(process.env.BENCH_WARM_SECONDS ?? 1);
const BASELINE = process.env.BENCH_BASELINE;
const SIMULTANEOUS = process.env.BENCH_SIMULTANEOUS === '1';

/** One load's req/s and the server's CPU µs per request. */
interface Phase {
  rps: number;
  cpu: number;
}

/** One server process, whether tracing is on in it now, and its pairs' req/s ratios. */
interface Proc {
  build: ToggledBuild;
  server: Awaited<ReturnType<typeof startServer>>;
  on: boolean;
  pairs: number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function run(): Promise<Record<string, number>> {
  const { body, dir, script, sink, env } = await toggleSetup('bench-tracing-toggle');
  const measure = (url: string, seconds: number): Promise<LoadResult> => loadOnce(url, body, seconds, {}, WRK ? script : undefined);
  const flag = heapFlag();
  const builds = toggledBuilds(BASELINE);
  const procs: Proc[] = [];
  try {
    // Simultaneous: each build's processes in adjacent pairs (an even number per build).
    const group = SIMULTANEOUS ? 2 : 1;
    const groups = SIMULTANEOUS ? Math.max(1, Math.round(PROCESSES / 2)) : PROCESSES;
    for (let k = 0; k < groups; k++)
      for (const b of builds)
        for (let j = 0; j < group; j++) {
          const args = [...(flag === undefined ? [] : [flag]), join(b.dist, 'bench', 'servers', 'identity.js')];
          procs.push({ build: b, server: await startServer(args, env), on: true, pairs: [] });
        }
    if (process.env.BENCH_PIN === '1') {
      for (const p of procs) pin(p.server.proc.pid, 1);
      pin(sink.proc.pid, 0);
      pin(process.pid, 0);
    }
    const toggle = async (p: Proc) => {
      p.server.proc.kill('SIGUSR2');
      p.on = !p.on;
      await sleep(SETTLE_MS);
    };
    // After toggling (simultaneous: a pair at once, loaded together as they are measured).
    const warm = async (ps: readonly Proc[]) => {
      if (WARM > 0) await Promise.all(ps.map((p) => measure(p.server.url, WARM)));
    };
    // Warm-up: each process traced, then off (both paths compiled before the first pair).
    for (const p of procs) {
      await measure(p.server.url, 2);
      await toggle(p);
      await measure(p.server.url, 1);
    }
    const loaded = async (p: Proc): Promise<Phase> => {
      const c0 = cpuSeconds(p.server.proc);
      const r = await measure(p.server.url, SECS);
      if (r.errors) throw new Error(`${r.errors} errors`);
      return { rps: r.rps, cpu: ((cpuSeconds(p.server.proc) - c0) * 1e6) / r.requests };
    };
    const record = (p: Proc, on: Phase, off: Phase) => {
      p.build.rps.push(on.rps / off.rps);
      p.build.cpu.push(on.cpu / off.cpu);
      p.pairs.push(on.rps / off.rps);
    };
    if (SIMULTANEOUS) {
      // Two processes of a build, one on and one off, loaded at the same moment on the same
      // core: a slow spell of the VM hits both halves of the pair. They swap every round,
      // and two rounds (each process on once) make one reading: the geometric mean of their
      // ratios, in which the two processes' own difference cancels.
      const mean = (x: Phase, y: Phase): Phase => ({ rps: Math.sqrt(x.rps * y.rps), cpu: Math.sqrt(x.cpu * y.cpu) });
      for (let k = 0; k + 1 < procs.length; k += 2) await toggle(procs[k] as Proc);
      for (let k = 0; k + 1 < procs.length; k += 2) await warm([procs[k] as Proc, procs[k + 1] as Proc]);
      const held = new Map<Proc, { on: Phase; off: Phase }>();
      for (let i = 0; i < ROUNDS; i++) {
        for (let k = 0; k + 1 < procs.length; k += 2) {
          const [a, b] = [procs[k] as Proc, procs[k + 1] as Proc];
          const [ra, rb] = await Promise.all([loaded(a), loaded(b)]);
          const now = a.on ? { on: ra, off: rb } : { on: rb, off: ra };
          const before = held.get(a);
          if (before === undefined) held.set(a, now);
          else {
            held.delete(a);
            record(a, mean(before.on, now.on), mean(before.off, now.off));
          }
          await Promise.all([toggle(a), toggle(b)]);
          await warm([a, b]);
        }
      }
    } else
      for (let i = 0; i < ROUNDS; i++) {
        for (const p of procs) {
          // Off first in even rounds, on first in odd ones.
          if (p.on !== (i % 2 === 1)) {
            await toggle(p);
            await warm([p]);
          }
          const first = await loaded(p);
          const firstOn = p.on;
          await toggle(p);
          await warm([p]);
          const second = await loaded(p);
          if (firstOn) record(p, first, second);
          else record(p, second, first);
        }
      }
  } finally {
    for (const p of procs) await stopServer(p.server.proc);
    await stopServer(sink.proc);
    rmSync(dir, { recursive: true, force: true });
  }
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const out: Record<string, number> = {};
  const rows: string[][] = [];
  for (const b of builds) {
    const byProcess = procs
      .filter((p) => p.build === b && p.pairs.length > 0)
      .map((p) => pct(median(p.pairs)))
      .join(' / ');
    const r = onOffSummary(b.key, builds.length > 1 ? `${b.name}: ` : '', b.rps, b.cpu, 'pairs', byProcess);
    Object.assign(out, r.out);
    rows.push(...r.rows);
  }
  // Each build's tracing cost in the other's units: >1, this build keeps more of its untraced throughput.
  if (BASELINE) out.on_vs_off_vs_base = (out.on_vs_off as number) / (out.base_on_vs_off as number);
  console.log(
    `\nTracing on/off within each process: identity ([1,4] float32, GraphPipe, loopback), c=${CONC}, ${procs.length / builds.length} processes${builds.length > 1 ? ' per build' : ''}, ${ROUNDS} rounds of ${SECS} s loads${SIMULTANEOUS ? ' (on and off processes loaded at once)' : ''}, load by ${WRK ? 'wrk' : 'undici'}${process.env.BENCH_PIN === '1' ? ', servers pinned to core 1, load and sink to core 0' : ''}\n`,
  );
  console.log(table(['reading', 'median of pairs', 'quartiles', SIMULTANEOUS ? 'by pair of processes' : 'by process'], rows));
  console.log(
    JSON.stringify({
      bench: 'tracing-toggle',
      load: WRK ? 'wrk' : 'undici',
      concurrency: CONC,
      processes: PROCESSES,
      rounds: ROUNDS,
      seconds: SECS,
      simultaneous: SIMULTANEOUS,
      ...out,
    }),
  );
  return out;
}
