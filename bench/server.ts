/**
 * Server benchmarks (issue: GraphPipe model server). All ratios come from one run:
 *  1. small requests: identity model [1,4] float32 vs a bare node:http echo server,
 *     in interleaved rounds;
 *  2. squeezenet batch-16 requests from 1 and 5 clients vs onnxruntime in-process
 *     (the limit, measured before and after, the higher kept) and vs Express + JSON;
 *  3. p99 of /health/live while benchmark 2's load saturates the model (its own run,
 *     so the poller's CPU does not count against benchmark 2).
 * Prints a table and a final JSON line.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { heapFlag } from '../src/cli/relaunch.js';
import { encodeRequest } from '../src/protocol/graphpipe/index.js';
import { Tensor } from '../src/tensor/index.js';
import { type LoadResult, combine, load, runJSON, startServer, stopServer, table } from './load.js';

const here = dirname(fileURLToPath(import.meta.url));
const shared = process.env.MODELPIPE_SHARED ?? join(here, '..', '..', '..', 'shared');
const SQUEEZE = join(shared, 'models', 'squeezenet1.1.onnx');
const SECS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

/** modelpipe's server scripts run with the node flag its CLI servers get (src/cli/relaunch.ts). */
function withHeapFlag(args: string[]): string[] {
  const flag = heapFlag();
  return flag === undefined ? args : [flag, ...args];
}

function gpBody(t: Tensor): Uint8Array {
  return encodeRequest({ type: 'infer', config: '', inputNames: [], inputs: [t], outputNames: [] });
}

async function small(): Promise<Record<string, number>> {
  const body = gpBody(new Tensor('float32', [1, 4], new Float32Array([1, 2, 3, 4])));
  const echo = await startServer([join(here, 'servers', 'echo.js')]);
  const ident = await startServer(withHeapFlag([join(here, 'servers', 'identity.js')]));
  const out: Record<string, number> = {};
  const rows: (string | number)[][] = [];
  try {
    for (const c of [1, 8]) {
      await load(echo.url, '/', body, c, 1); // warm-up
      await load(ident.url, '/', body, c, 1);
      // Interleaved rounds, so drift on the shared machine hits both alike.
      const er: LoadResult[] = [];
      const mr: LoadResult[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        er.push(await load(echo.url, '/', body, c, SECS / ROUNDS));
        mr.push(await load(ident.url, '/', body, c, SECS / ROUNDS));
      }
      const e = combine(er);
      const m = combine(mr);
      rows.push(
        [`echo (ceiling) c=${c}`, e.rps, e.p50, e.p99, ''],
        [`modelpipe identity c=${c}`, m.rps, m.p50, m.p99, `${((m.rps / e.rps) * 100).toFixed(1)} %`],
      );
      out[`small_c${c}_ratio`] = m.rps / e.rps;
      out[`small_c${c}_rps`] = m.rps;
      out[`small_c${c}_p99_ms`] = m.p99;
      if (m.errors) throw new Error(`${m.errors} errors in the identity benchmark`);
    }
  } finally {
    await stopServer(echo.proc);
    await stopServer(ident.proc);
  }
  console.log('\n1. Small requests ([1,4] float32, loopback)\n');
  console.log(table(['server', 'req/s', 'p50 ms', 'p99 ms', 'of ceiling'], rows));
  return out;
}

/** /health/live latency from a separate process, so the load generator's own work doesn't count. */
function healthDuring(url: string, seconds: number): Promise<{ p50: number; p99: number }> {
  return runJSON<{ p50: number; p99: number }>([join(here, 'servers', 'health-poller.js'), url, String(seconds)]);
}

async function squeezenet(): Promise<Record<string, number>> {
  const batch = 16;
  const t = new Tensor('float32', [batch, 3, 224, 224], new Float32Array(batch * 3 * 224 * 224).fill(100));
  const body = gpBody(t);
  const nested = {
    inputs: Array.from({ length: batch }, () =>
      Array.from({ length: 3 }, () => Array.from({ length: 224 }, () => new Array(224).fill(100))),
    ),
  };
  const jsonBody = Buffer.from(JSON.stringify(nested));
  // The in-process limit drifts between runs on a shared machine (±5 %): it is measured
  // before and after the servers, and the higher one kept (the conservative choice).
  const measureLimit = async () =>
    (await runJSON<{ rowsPerSec: number }>([join(here, 'servers', 'ort-loop.js'), SQUEEZE, String(batch), String(SECS)])).rowsPerSec;
  const limitBefore = await measureLimit();
  const mp = await startServer(withHeapFlag([join(here, 'servers', 'modelpipe-onnx.js'), SQUEEZE, '2']));
  const ex = await startServer([join(here, 'servers', 'express-json.js'), SQUEEZE]);
  const measured: { c: number; mRows: number; eRows: number; healthP99: number }[] = [];
  try {
    for (const c of [1, 5]) {
      await load(mp.url, '/', body, c, 1);
      const m = await load(mp.url, '/', body, c, SECS);
      // Benchmark 3 is its own run of the same load: the poller's CPU would otherwise
      // count against benchmark 2's rows/s (~7 % here with one client).
      const [, health] = await Promise.all([load(mp.url, '/', body, c, SECS), healthDuring(mp.url, SECS - 0.5)]);
      await load(ex.url, '/predict', jsonBody, c, 1, { 'content-type': 'application/json' });
      const e = await load(ex.url, '/predict', jsonBody, c, SECS, { 'content-type': 'application/json' });
      if (m.errors || e.errors) throw new Error(`errors: modelpipe ${m.errors}, express ${e.errors}`);
      measured.push({ c, mRows: m.rps * batch, eRows: e.rps * batch, healthP99: health.p99 });
    }
  } finally {
    await stopServer(mp.proc);
    await stopServer(ex.proc);
  }
  const limitAfter = await measureLimit();
  const limit = Math.max(limitBefore, limitAfter);
  const rows: (string | number)[][] = [['onnxruntime in-process loop (limit, best of before/after)', 1, limit, '', '']];
  const out: Record<string, number> = {
    ort_limit_rows_per_s: limit,
    ort_limit_rows_per_s_before: limitBefore,
    ort_limit_rows_per_s_after: limitAfter,
  };
  for (const { c, mRows, eRows, healthP99 } of measured) {
    rows.push(
      [`modelpipe GraphPipe`, c, mRows, `${((mRows / limit) * 100).toFixed(1)} % of limit`, `health p99 ${healthP99.toFixed(2)} ms`],
      [`Express + JSON`, c, eRows, `modelpipe ${(mRows / eRows).toFixed(1)} x faster`, ''],
    );
    out[`squeeze_c${c}_rows_per_s`] = mRows;
    out[`squeeze_c${c}_vs_limit`] = mRows / limit;
    out[`squeeze_c${c}_vs_express`] = mRows / eRows;
    out[`health_p99_ms_c${c}`] = healthP99;
  }
  console.log(`\n2. SqueezeNet, batch-${batch} requests (alone); 3. /health/live during the same load (a separate run)\n`);
  console.log(table(['server', 'clients', 'rows/s', 'ratio', 'responsiveness'], rows));
  return out;
}

export async function main(): Promise<void> {
  if (!existsSync(SQUEEZE)) throw new Error(`shared data absent: ${SQUEEZE} (set MODELPIPE_SHARED)`);
  const a = await small();
  const b = await squeezenet();
  const r = { ...a, ...b };
  const targets = {
    small_ge_60pct_of_ceiling: (r.small_c1_ratio ?? 0) >= 0.6 && (r.small_c8_ratio ?? 0) >= 0.6,
    squeeze_ge_95pct_of_limit: (r.squeeze_c1_vs_limit ?? 0) >= 0.95 && (r.squeeze_c5_vs_limit ?? 0) >= 0.95,
    squeeze_ge_5x_express: (r.squeeze_c1_vs_express ?? 0) >= 5 && (r.squeeze_c5_vs_express ?? 0) >= 5,
    health_p99_lt_5ms: (r.health_p99_ms_c1 ?? 99) < 5 && (r.health_p99_ms_c5 ?? 99) < 5,
  };
  console.log(`\n${JSON.stringify({ bench: 'server', ...r, targets })}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
