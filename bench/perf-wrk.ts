/**
 * Is `modelpipe perf` the bottleneck? Its throughput at concurrency 8 against the echo
 * server (bench/servers/mp-echo.ts: modelpipe serving an identity over GraphPipe) next
 * to wrk's (C, one thread, 8 connections) POSTing the same GraphPipe body — written by
 * the same encoder perf's client uses, from the same zero tensor perf sends with
 * `--data zero`. Both tools run as their own processes, in interleaved rounds in one
 * run (wrk then perf, perf then wrk, …) so drift hits both; the verdict compares
 * medians: perf's requests/s should be within 10 % of wrk's. Two more columns in the same
 * rounds: perf on undici (`--http-client undici`, the fallback) and a bare net.Socket
 * loop (bench/bare-socket-loop.ts), the most a Node sender gets from this machine. Each
 * tool's CPU time per request is a column too: on a loaded machine it varies less than req/s.
 *
 * BENCH_SECONDS (default 6) per measurement, BENCH_ROUNDS (default 3), PERF_WRK_FLOATS
 * (default 64) the request's float32 values. `PERF_CPU_PROF=DIR` runs perf under
 * --cpu-prof and leaves its profiles in DIR.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { encodeRequest } from '../src/protocol/graphpipe/index.js';
import { Tensor } from '../src/tensor/index.js';
import { startServer, stopServer, table } from './load.js';
import { runWrk, wrkPostScript } from './wrk.js';

const here = join(fileURLToPath(import.meta.url), '..');
const CLI = join(here, '..', 'src', 'cli', 'main.js');
const SECS = Number(process.env.BENCH_SECONDS ?? 6);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const FLOATS = Number(process.env.PERF_WRK_FLOATS ?? 64);
const CONC = 8;
const TARGET = 0.9;

/** wrk; perf on its own sockets (the default); perf on undici (the fallback); the bare socket loop (the bound). */
type Tool = 'wrk' | 'perf' | 'perf-undici' | 'bare-socket';
const TOOLS: readonly Tool[] = ['wrk', 'perf', 'perf-undici', 'bare-socket'];

interface Measure {
  tool: Tool;
  round: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** The tool's CPU time per request, µs: steadier than req/s while neighbours load the machine. */
  cpuUs: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

function wrkMeasure(url: string, script: string, round: number): Measure {
  const r = runWrk(url, script, CONC, SECS);
  return { tool: 'wrk', round, rps: r.rps, p50Ms: r.p50Ms, p99Ms: r.p99Ms, cpuUs: r.cpuUs };
}

async function runPerfCli(url: string, dir: string, round: number, httpClient: 'socket' | 'undici'): Promise<Measure> {
  const json = join(dir, `perf-${round}-${httpClient}.json`);
  const prof = process.env.PERF_CPU_PROF;
  const windowMs = Math.round((SECS * 1000) / 3);
  const args = [
    ...(prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : []),
    CLI,
    'perf',
    url,
    '--shape',
    `in0:1,${FLOATS}`,
    '--data',
    'zero',
    '--concurrency',
    String(CONC),
    // As users run it: windows until three agree within the default 10 %, so a first
    // window spent warming up (JIT, connecting) is dropped as perf drops it; the figures
    // are three windows, wrk's measuring time; a step ends by 3× that.
    '--window-ms',
    String(windowMs),
    '--step-cap-ms',
    String(SECS * 3000),
    '--http-client',
    httpClient,
    '--json',
    json,
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const [code] = (await once(proc, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`modelpipe perf exited ${code}`);
  const step = JSON.parse(readFileSync(json, 'utf8')).steps[0];
  if (Object.keys(step.errors).length > 0) throw new Error(`perf saw errors: ${JSON.stringify(step.errors)}`);
  const tool = httpClient === 'socket' ? 'perf' : 'perf-undici';
  return { tool, round, rps: step.throughput, p50Ms: step.latencyMs.p50, p99Ms: step.latencyMs.p99, cpuUs: step.clientCpuUsPerRequest };
}

/** bench/bare-socket-loop.ts in its own process, as long as wrk runs. */
async function runBare(url: string, body: string, round: number): Promise<Measure> {
  const proc = spawn(process.execPath, [join(here, 'bare-socket-loop.js'), url, body, String(CONC), String(SECS)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const [code] = (await once(proc, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`bare socket loop exited ${code}`);
  const bare = JSON.parse(out) as { rps: number; cpuUs: number };
  return { tool: 'bare-socket', round, rps: bare.rps, p50Ms: Number.NaN, p99Ms: Number.NaN, cpuUs: bare.cpuUs };
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mp-perf-wrk-'));
  const body = join(dir, 'body.bin');
  const script = join(dir, 'post.lua');
  // The body perf's GraphPipe client sends for this model: inferManyRaw's request, encoded once.
  const zeros = Tensor.zeros('float32', [1, FLOATS]);
  writeFileSync(body, encodeRequest({ type: 'infer', config: '', inputNames: ['in0'], inputs: [zeros], outputNames: [] }));
  wrkPostScript(script, body);
  const server = await startServer([join(here, 'servers', 'mp-echo.js')]);
  const results: Measure[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      // Rotate which tool goes first, so none always gets the warmer server.
      const order = TOOLS.map((_, i) => TOOLS[(i + round - 1) % TOOLS.length] as Tool);
      for (const tool of order) {
        const m =
          tool === 'wrk'
            ? wrkMeasure(`${server.url}/`, script, round)
            : tool === 'bare-socket'
              ? await runBare(`${server.url}/`, body, round)
              : await runPerfCli(server.url, dir, round, tool === 'perf' ? 'socket' : 'undici');
        results.push(m);
        console.error(`round ${round} ${tool}: ${m.rps.toFixed(0)} req/s`);
      }
    }
  } finally {
    await stopServer(server.proc);
    rmSync(dir, { recursive: true, force: true });
  }
  const rows: (string | number)[][] = results.map((m) => [m.round, m.tool, m.rps, m.p50Ms, m.p99Ms, m.cpuUs]);
  const med = (tool: Tool, of: 'rps' | 'cpuUs' = 'rps') => median(results.filter((m) => m.tool === tool).map((m) => m[of]));
  const wrkRps = med('wrk');
  const perfRps = med('perf');
  const ratio = perfRps / wrkRps;
  for (const tool of TOOLS) rows.push(['median', tool, med(tool), '-', '-', med(tool, 'cpuUs')]);
  console.log(
    `perf vs wrk: echo server, GraphPipe [1,${FLOATS}] float32, concurrency ${CONC}, ${SECS} s each, ${ROUNDS} interleaved rounds`,
  );
  console.log(table(['round', 'tool', 'req/s', 'p50 ms', 'p99 ms', 'tool CPU µs/req'], rows));
  console.log(`perf = ${(ratio * 100).toFixed(1)} % of wrk (target ≥ ${TARGET * 100} %)`);
  const pct = (tool: Tool) => Number((med(tool) / wrkRps).toFixed(3));
  console.log(
    `perf --http-client undici = ${(pct('perf-undici') * 100).toFixed(1)} %, bare socket loop (the bound) = ${(pct('bare-socket') * 100).toFixed(1)} % of wrk`,
  );
  console.log(
    JSON.stringify({
      bench: 'perf-wrk',
      loadavg: loadavg().map((x) => Number(x.toFixed(2))),
      concurrency: CONC,
      floats: FLOATS,
      seconds: SECS,
      rounds: ROUNDS,
      wrk_rps: Number(wrkRps.toFixed(1)),
      perf_rps: Number(perfRps.toFixed(1)),
      ratio: Number(ratio.toFixed(3)),
      undici_ratio: pct('perf-undici'),
      bare_socket_ratio: pct('bare-socket'),
      target: TARGET,
      pass: ratio >= TARGET,
      cpu_us_per_req: Object.fromEntries(TOOLS.map((t) => [t, Number(med(t, 'cpuUs').toFixed(1))])),
      per_round: results.map((m) => ({ round: m.round, tool: m.tool, rps: Number(m.rps.toFixed(1)), cpu_us: Number(m.cpuUs.toFixed(1)) })),
    }),
  );
}
