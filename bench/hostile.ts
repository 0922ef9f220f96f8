import { fileURLToPath } from 'node:url';
import { Agent } from 'undici';
import { GrpcChannel } from '../src/client/grpc-channel.js';
import { OipGrpcServer } from '../src/server/oip-grpc-server.js';
import { serveModel } from '../src/server/serve.js';
import { type Body, PROTOCOLS, bodies, checkInProcess, fuzzModel, seeds, send } from '../test/helpers/fuzz-bodies.js';
import { table } from './load.js';

/**
 * `npm run bench -- hostile`: 1 000 000 seeded mutations of GraphPipe, OIP JSON, OIP
 * binary and gRPC requests (HOSTILE_BODIES sets the count). Most go through each
 * server's decode and validation path in-process, at a high rate; every 49th is also
 * sent to a real server over loopback (HTTP and gRPC). Reports answers by protocol and
 * status, 5xx, hangs (no answer in 10 s) and RSS before and after (settled after GCs,
 * in this process, which holds the server too; heapUsed beside it).
 */

const TOTAL = Number(process.env.HOSTILE_BODIES ?? 1_000_000);
// Coprime with the six seeds, so every protocol's bodies reach the sockets.
const SOCKET_EVERY = 49;
// RSS grows for the first few tens of thousands of bodies while V8 sizes its heap
// spaces (heapUsed stays flat), so the baseline is taken after this many.
const WARM_UP = 50_000;
const CONCURRENCY = 8;

/**
 * RSS and heapUsed once settled: V8 hands freed pages back to the OS lazily (RSS fell
 * by 40 MB over a few GCs after a burst, heapUsed flat), so both readings take five
 * GCs half a second apart and keep the last.
 */
async function settledMemory(): Promise<{ rss: number; heap: number }> {
  for (let i = 0; i < 5; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setTimeout(r, 500));
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}

export async function main(): Promise<unknown> {
  const srv = await serveModel(fuzzModel());
  const grpc = new OipGrpcServer({ engine: srv.engine });
  const port = await grpc.listen(0);
  const targets = { http: srv.url, grpc: new GrpcChannel(`127.0.0.1:${port}`), agent: new Agent({ connections: CONCURRENCY }) };
  const md = srv.engine.metadata('fz');
  const counts = new Map<string, number>();
  const bump = (k: string) => counts.set(k, (counts.get(k) ?? 0) + 1);
  let fivexx = 0;
  let hangs = 0;
  let sent = 0;
  // Warm-up (other seeds), so the first RSS reading includes the servers' and the JIT's steady state.
  let w = 0;
  for (const b of bodies(WARM_UP, 1)) {
    checkInProcess(b, md);
    if (w++ % SOCKET_EVERY === 0) await send(b, targets);
  }
  const mem0 = await settledMemory();
  const rss0 = mem0.rss;
  const t0 = performance.now();
  const it = bodies(TOTAL, 0xbadc0de)[Symbol.iterator]();
  let i = 0;
  const next = (): Body | undefined => {
    const r = it.next();
    return r.done ? undefined : r.value;
  };
  const worker = async () => {
    for (let b = next(); b !== undefined; b = next()) {
      const status = checkInProcess(b, md);
      bump(`${b.protocol}\tin-process\t${status}`);
      if (status >= 500) fivexx++;
      if (i++ % SOCKET_EVERY !== 0) continue;
      const s = await send(b, targets);
      sent++;
      bump(`${b.protocol}\tsocket\t${s}`);
      if (s >= 500) fivexx++;
      if (s < 0) hangs++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - t0) / 1000;
  let stillServing = true;
  for (const s of seeds()) stillServing &&= (await send(s, targets)) === 200;
  targets.grpc.close();
  await targets.agent.close();
  await grpc.close();
  await srv.close();
  const mem1 = await settledMemory();
  const rss1 = mem1.rss;

  const rows = [...counts.entries()]
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
    .map(([k, n]) => [...k.split('\t'), n] as (string | number)[]);
  console.log(`\n${TOTAL} mutated bodies (${PROTOCOLS.join(', ')}), ${sent} of them also over loopback; ${seconds.toFixed(1)} s\n`);
  console.log(table(['protocol', 'path', 'status', 'count'], rows));
  const out = {
    bodies: TOTAL,
    over_sockets: sent,
    seconds: +seconds.toFixed(1),
    status_5xx: fivexx,
    hangs,
    crashes: 0, // the servers run in this process: a crash would have ended the bench
    still_serving: stillServing,
    rss_before_mb: +(rss0 / 2 ** 20).toFixed(1),
    rss_after_mb: +(rss1 / 2 ** 20).toFixed(1),
    rss_within_1_5x: rss1 <= 1.5 * rss0,
    heap_used_before_mb: +(mem0.heap / 2 ** 20).toFixed(1),
    heap_used_after_mb: +(mem1.heap / 2 ** 20).toFixed(1),
    by_status: Object.fromEntries(counts),
  };
  console.log(
    `\n5xx: ${fivexx}, hangs: ${hangs}, still serving: ${stillServing}, RSS ${out.rss_before_mb} → ${out.rss_after_mb} MB (within 1.5×: ${out.rss_within_1_5x ? 'MET' : 'NOT MET'})`,
  );
  console.log(JSON.stringify(out));
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
