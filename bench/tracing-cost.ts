/**
 * What tracing's own code costs per request, without the server around it: a child
 * process makes the calls a traced unbatched request makes (request span, engine tags,
 * queue and compute spans, encode span, the ends) and its spans are encoded and
 * exported over OTLP/HTTP to a loopback sink, as in a server. On a noisy 2-core VM the
 * server benchmark (tracing.ts) cannot resolve a few µs per request; CPU time of this
 * loop can, and it says how much of the server's "on" cost is tracing's code.
 * Configurations, alternated over rounds, one fresh child each time:
 *  - off: tracing never started (the calls find no tracer);
 *  - on: always_on, OTLP/protobuf;
 *  - base on (only with BENCH_BASELINE=DIR, a built worktree of another commit): the same calls there.
 * Medians of CPU µs per request; a table and a final JSON line.
 *  - on, batches of 2048 and of 512 (the SDK's default): the same with OTEL_BSP_MAX_EXPORT_BATCH_SIZE set (4 and 16 times the exports);
 *   BENCH_REQUESTS (per child, default 100 000), BENCH_ROUNDS (default 5)
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startServer, stopServer, table } from './load.js';

const here = dirname(fileURLToPath(import.meta.url));
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BASELINE = process.env.BENCH_BASELINE;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** In the child: the request path's tracing calls, `n` times, yielding to the event loop as a server would. */
async function child(root: string, sinkUrl: string | undefined, n: number): Promise<void> {
  const load = (p: string) => import(pathToFileURL(join(root, p)).href);
  const tracing = await load('src/observe/tracing.js');
  const { batchTrace } = await load('src/scheduling/batch-trace.js');
  const { traceConfigFrom } = await load('src/observe/trace-config.js');
  // The loop waits while more than half the queue is out (below): the build's own bound.
  let patience = 4096;
  if (sinkUrl !== undefined) {
    const config = traceConfigFrom({
      // The configuration's batching settings (OTEL_BSP_*), to compare them.
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('OTEL_BSP_'))),
      OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl,
      OTEL_TRACES_SAMPLER: 'always_on',
      OTEL_SERVICE_NAME: 'cost',
    });
    patience = Math.max(config.maxQueue / 2, config.maxExportBatch);
    await tracing.startTracing(config);
  }
  const headers = { host: '127.0.0.1', 'content-type': 'application/octet-stream', 'content-length': '144' };
  const response = [new Uint8Array(120)];
  const one = () => {
    const t = tracing.requestTrace(headers, 'graphpipe', 144);
    if (t?.span !== undefined) tracing.tagRequest(t.span, 'identity', '1');
    const queued = performance.now();
    const bt = batchTrace([{ trace: t, enqueuedAt: queued }], 1, 1, performance.now());
    bt?.run(() => 0, false);
    bt?.end(undefined, performance.now()); // the scheduler passes its own clock read (builds before ignore it)
    t?.span?.setAttribute('modelpipe.outcome', 'ok');
    const e0 = performance.now();
    if (tracing.encoded !== undefined) {
      if (t?.span !== undefined) tracing.encoded(t, e0, performance.now(), response);
    } else tracing.endEncode(t, tracing.childSpan(t, 'modelpipe.encode'), response); // a baseline from before the leaves (fa85d73 and earlier)
    tracing.endRequest(t);
  };
  // Spans ended and not yet answered by the collector: a loop outruns any network, so
  // it waits (idle, no CPU) while many are out, as a server's clients would, rather than
  // have spans dropped and so skip their encoding and export.
  const waiting = () => {
    const st = tracing.tracingStats?.();
    return st === undefined ? 0 : st.ended - st.exported - st.dropped - st.failed;
  };
  const pass = async (count: number) => {
    for (let i = 0; i < count; i++) {
      one();
      // A server yields between requests; exports (and their answers) run in those gaps.
      if (i % 64 === 63) {
        await new Promise((r) => setImmediate(r));
        while (waiting() > patience) await new Promise((r) => setTimeout(r, 1));
      }
    }
  };
  await pass(Math.min(20_000, n)); // warm-up: JIT, the exporter's connection
  const c0 = process.cpuUsage();
  await pass(n);
  const c = process.cpuUsage(c0);
  const stats = tracing.tracingStats?.();
  await tracing.stopTracing?.();
  process.stdout.write(`${JSON.stringify({ us: (c.user + c.system) / n, dropped: stats?.dropped ?? 0 })}\n`);
}

function runChild(root: string, sinkUrl: string | undefined, env: NodeJS.ProcessEnv): Promise<{ us: number; dropped: number }> {
  return new Promise((resolve, reject) => {
    const args = [fileURLToPath(import.meta.url), '--child', root, sinkUrl ?? '-', String(REQUESTS)];
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env });
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited ${code}: ${out}`))));
  });
}

export async function run(): Promise<Record<string, number>> {
  const dist = join(here, '..');
  const sink = await startServer([join(here, 'servers', 'otlp-sink.js')], undefined, /http:\/\/127\.0\.0\.2:\d+/);
  const plain = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
  const batches = (n: number) => ({ ...plain, OTEL_BSP_MAX_EXPORT_BATCH_SIZE: String(n) });
  const configs: { name: string; key: string; root: string; sink: string | undefined; env: NodeJS.ProcessEnv; us: number[] }[] = [
    { name: 'off', key: 'off', root: dist, sink: undefined, env: plain, us: [] },
    { name: 'on (always_on, OTLP/protobuf)', key: 'on', root: dist, sink: sink.url, env: plain, us: [] },
    { name: 'on, batches of 2048 spans', key: 'on_batch2048', root: dist, sink: sink.url, env: batches(2048), us: [] },
    { name: "on, batches of 512 spans (the SDK's)", key: 'on_batch512', root: dist, sink: sink.url, env: batches(512), us: [] },
  ];
  if (BASELINE)
    configs.push({ name: `base on (${BASELINE})`, key: 'base_on', root: join(BASELINE, 'dist'), sink: sink.url, env: plain, us: [] });
  try {
    for (let i = 0; i < ROUNDS; i++) {
      for (let k = 0; k < configs.length; k++) {
        const c = configs[(i + k) % configs.length] as (typeof configs)[number];
        const r = await runChild(c.root, c.sink, c.env);
        if (r.dropped > 0) throw new Error(`${c.name}: ${r.dropped} spans dropped (the sink fell behind)`);
        c.us.push(r.us);
      }
    }
  } finally {
    await stopServer(sink.proc);
  }
  const off = median(configs[0]?.us ?? []);
  const out: Record<string, number> = {};
  const rows = configs.map((c, i) => {
    const us = median(c.us);
    out[`${c.key}_us_per_request`] = us;
    if (i > 0) out[`${c.key}_tracing_us`] = us - off;
    return [c.name, us, i === 0 ? '' : (us - off).toFixed(2), c.us.map((x) => x.toFixed(2)).join(' ')];
  });
  if (BASELINE) out.on_vs_base_tracing = (out.on_tracing_us as number) / (out.base_on_tracing_us as number);
  console.log(`\nTracing's own code per traced request (in-process, ${REQUESTS} requests per child, ${ROUNDS} rounds, medians)\n`);
  console.log(table(['configuration', 'CPU µs/request', 'tracing µs/request', 'rounds'], rows));
  console.log(JSON.stringify({ bench: 'tracing-cost', requests: REQUESTS, rounds: ROUNDS, ...out }));
  return out;
}

if (process.argv[2] === '--child') {
  const [root, sink, n] = process.argv.slice(3);
  await child(root as string, sink === '-' ? undefined : sink, Number(n));
}
