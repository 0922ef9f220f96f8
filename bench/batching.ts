/**
 * Dynamic batching benchmark: 32 concurrent clients each sending single-image
 * squeezenet requests, against modelpipe with batching off and on (max 16 and 32,
 * 2–5 ms delay), through `modelpipe batcher` in front of a non-batching server, and
 * the limit: onnxruntime in-process at its best batch size. Plus the row cache: a
 * repeated row versus computing it. One run; table + final JSON line.
 */
import { existsSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { encodeRequest } from '../src/protocol/graphpipe/index.js';
import { Tensor } from '../src/tensor/index.js';
import { load, runJSON, startServer, stopServer, table } from './load.js';

const here = dirname(fileURLToPath(import.meta.url));
const shared = process.env.MODELPIPE_SHARED ?? join(here, '..', '..', '..', 'shared');
const SQUEEZE = join(shared, 'models', 'squeezenet1.1.onnx');
const CLI = join(here, '..', 'src', 'cli', 'main.js');
const SECS = Number(process.env.BENCH_SECONDS ?? 6);
const CLIENTS = 32;

const one = encodeRequest({
  type: 'infer',
  config: '',
  inputNames: [],
  inputs: [new Tensor('float32', [1, 3, 224, 224], new Float32Array(3 * 224 * 224).fill(100))],
  outputNames: [],
});

async function scenario(
  label: string,
  args: string[],
  through?: string[],
): Promise<{ label: string; rows: number; p50: number; p99: number; delayUs: number; maxBatch: number; computeMs: number }> {
  const srv = await startServer([CLI, ...args, '--listen', '127.0.0.1:0']);
  const px = through ? await startServer([CLI, 'batcher', '--target', srv.url, '--listen', '127.0.0.1:0', ...through]) : undefined;
  try {
    const url = px?.url ?? srv.url;
    await load(url, '/', one, CLIENTS, 1.5);
    const r = await load(url, '/', one, CLIENTS, SECS);
    if (r.errors) throw new Error(`${label}: ${r.errors} errors`);
    const all = [...args, ...(through ?? [])];
    const flag = (f: string) => Number(all[all.indexOf(f) + 1] ?? 0);
    return {
      label,
      rows: r.rps,
      p50: r.p50,
      p99: r.p99,
      delayUs: all.includes('--max-queue-delay-us') ? flag('--max-queue-delay-us') : 0,
      maxBatch: all.includes('--max-batch-size') ? flag('--max-batch-size') : 1,
      computeMs: r.computeMs ?? Number.NaN,
    };
  } finally {
    if (px) await stopServer(px.proc);
    await stopServer(srv.proc);
  }
}

/**
 * Row cache: the same single-row request twice over HTTP, the first computed, the
 * second answered from the cache. The hit still pays the transfer and a SHA-256 of
 * the row's bytes, so the ratio depends on how expensive the model is: reported for
 * squeezenet (cheap, ~5 ms a row) and candy (style transfer, ~1 s a row).
 */
async function cacheRatio(
  model: string,
  shape: number[],
  reps: number,
): Promise<{ model: string; computeMs: number; hitMs: number; ratio: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-cache-'));
  const srv = await startServer([CLI, 'serve', model, '--listen', '127.0.0.1:0', '--cache', '--cache-dir', dir, '--no-batch']);
  const size = shape.reduce((a, b) => a * b, 1);
  try {
    const body = (i: number) =>
      encodeRequest({
        type: 'infer',
        config: '',
        inputNames: [],
        inputs: [new Tensor('float32', shape, new Float32Array(size).fill(i))],
        outputNames: [],
      });
    // undici's Pool, like every other load here (fetch adds ~1–2 ms of its own per 600 KB).
    const pool = new Pool(srv.url, { connections: 1 });
    const time = async (b: Uint8Array) => {
      const t0 = performance.now();
      const r = await pool.request({ method: 'POST', path: '/', body: b });
      await r.body.arrayBuffer();
      if (r.statusCode !== 200) throw new Error(`HTTP ${r.statusCode}`);
      return performance.now() - t0;
    };
    await time(body(0)); // warm-up
    const compute: number[] = [];
    const hits: number[] = [];
    for (let i = 0; i < reps; i++) {
      const b = body(i + 1);
      compute.push(await time(b)); // first time: computed
      await new Promise((r) => setTimeout(r, 50)); // the row is stored after the response
      hits.push(await time(b)); // second time: from the cache
    }
    await pool.close();
    const med = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)] as number;
    const c = med(compute);
    const h = med(hits);
    return { model: model.split('/').pop() as string, computeMs: c, hitMs: h, ratio: c / h };
  } finally {
    await stopServer(srv.proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function main(): Promise<void> {
  if (!existsSync(SQUEEZE)) throw new Error(`shared data absent: ${SQUEEZE} (set MODELPIPE_SHARED)`);
  const limit = await runJSON<Record<string, { rowsPerSec: number; msPerBatch: number }>>([
    join(here, 'servers', 'ort-best.js'),
    SQUEEZE,
    '3',
    '1',
    '8',
    '16',
    '32',
  ]);
  const best = Object.entries(limit).sort((a, b) => b[1].rowsPerSec - a[1].rowsPerSec)[0] as [string, { rowsPerSec: number }];
  // Two single-threaded sessions: on this 2-core machine they outrun one two-threaded one.
  const serve = ['serve', SQUEEZE, '--instances', '2'];
  const runs = [
    await scenario('batching off', [...serve, '--no-batch']),
    await scenario('batching max 16, 2 ms', [...serve, '--batch', '--max-batch-size', '16', '--max-queue-delay-us', '2000']),
    await scenario('batching max 32, 5 ms', [...serve, '--batch', '--max-batch-size', '32', '--max-queue-delay-us', '5000']),
    await scenario(
      'batcher proxy (max 16, 2 ms) -> non-batching server',
      [...serve, '--no-batch', '--max-queue', '4096'],
      ['--max-batch-size', '16', '--max-queue-delay-us', '2000', '--upstream-connections', '1'],
    ),
  ];
  // The p99 bound is max delay + 2 × one full batch's compute time, taken as the server
  // computes it (median Server-Timing compute of the run: two single-threaded instances
  // take about twice as long per batch as the in-process two-threaded session), and,
  // for reference, as onnxruntime in-process computes it.
  const bounds = runs.map((r) => ({
    server: r.delayUs / 1000 + 2 * r.computeMs,
    inProcess: r.delayUs / 1000 + 2 * (limit[String(r.maxBatch)]?.msPerBatch ?? Number.NaN),
  }));
  const rows = runs.map((r, i) => {
    const b = bounds[i] as { server: number; inProcess: number };
    return [
      r.label,
      r.rows,
      `${((r.rows / best[1].rowsPerSec) * 100).toFixed(1)} %`,
      r.p50,
      r.p99,
      r.computeMs,
      r.maxBatch > 1 ? b.server.toFixed(1) : '-',
      r.maxBatch > 1 ? b.inProcess.toFixed(1) : '-',
    ];
  });
  console.log(
    `\nSqueezeNet, ${CLIENTS} clients sending single images. Limit: onnxruntime in-process, best batch ${best[0]} = ${best[1].rowsPerSec.toFixed(1)} rows/s\n`,
  );
  console.log(
    table(['server', 'rows/s', 'of limit', 'p50 ms', 'p99 ms', 'batch compute ms', 'p99 bound ms', 'bound, in-process batch ms'], rows),
  );
  const caches = [
    await cacheRatio(SQUEEZE, [1, 3, 224, 224], 30),
    await cacheRatio(join(shared, 'models', 'candy.onnx'), [1, 3, 720, 720], 4),
  ];
  console.log('\nRow cache: one row computed vs the same row answered from the cache (HTTP, median)\n');
  console.log(
    table(
      ['model', 'compute ms', 'cache hit ms', 'ratio'],
      caches.map((c) => [c.model, c.computeMs, c.hitMs, `${c.ratio.toFixed(1)} x`]),
    ),
  );
  const [off, b16, b32, proxy] = runs as [(typeof runs)[0], (typeof runs)[0], (typeof runs)[0], (typeof runs)[0]];
  const bound = (i: number) => (bounds[i] as { server: number; inProcess: number }).server;
  const boundInProcess = (i: number) => (bounds[i] as { server: number; inProcess: number }).inProcess;
  const result = {
    bench: 'batching',
    limit_rows_per_s: best[1].rowsPerSec,
    limit_batch: Number(best[0]),
    ort_by_batch: limit,
    runs,
    proxy_overhead_vs_inserver: 1 - proxy.rows / b16.rows,
    cache: caches,
    targets: {
      batching_ge_90pct_of_limit: Math.max(b16.rows, b32.rows) / best[1].rowsPerSec >= 0.9,
      p99_within_bound: b16.p99 <= bound(1) && b32.p99 <= bound(2),
      p99_within_bound_of_in_process_batch_time: b16.p99 <= boundInProcess(1) && b32.p99 <= boundInProcess(2),
      cache_hit_ge_100x: Object.fromEntries(caches.map((c) => [c.model, c.ratio >= 100])),
    },
    batching_gain_vs_off: Math.max(b16.rows, b32.rows) / off.rows,
  };
  console.log(JSON.stringify(result));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
