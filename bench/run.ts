import { spawnSync } from 'node:child_process';

/**
 * Benchmark dispatcher: `node dist/bench/run.js <name>` runs the named benchmark
 * module's `run()`. Add a benchmark by adding one line to BENCHES.
 *
 * Benchmarks that measure memory need `global.gc`, and the codec benchmark's JSON
 * baseline needs a large heap (nested arrays of 19M numbers, ~400 MB strings), so
 * the dispatcher re-executes itself once with those Node flags.
 */
type Bench = { run?: () => Promise<unknown>; main?: () => Promise<unknown> };
const BENCHES: Record<string, () => Promise<Bench>> = {
  codec: () => import('./codec.js'),
  server: () => import('./server.js'),
  batching: () => import('./batching.js'),
  classy: () => import('./classy.js'),
  oip: () => import('./oip.js'),
  runinference: () => import('./runinference.js'),
  hostile: () => import('./hostile.js'),
  soak: () => import('./soak.js'),
  streams: () => import('./streams.js'),
  peers: () => import('./peers.js'),
  'perf-wrk': () => import('./perf-wrk.js'),
  tune: () => import('./tune.js'),
  tracing: () => import('./tracing.js'),
  'tracing-cost': () => import('./tracing-cost.js'),
  'tracing-toggle': () => import('./tracing-toggle.js'),
  'tracing-flip': () => import('./tracing-flip.js'),
  'metrics-cost': () => import('./metrics-cost.js'),
  replicas: () => import('./replicas.js'),
};

const NODE_FLAGS = ['--expose-gc', '--max-old-space-size=16384'];

async function main(): Promise<void> {
  const name = process.argv[2];
  const load = name === undefined ? undefined : BENCHES[name];
  if (load === undefined) {
    console.error(`usage: npm run bench -- <name>   (one of: ${Object.keys(BENCHES).join(', ')})`);
    process.exitCode = 2;
    return;
  }
  if (typeof globalThis.gc !== 'function') {
    const r = spawnSync(process.execPath, [...NODE_FLAGS, ...process.argv.slice(1)], { stdio: 'inherit' });
    process.exitCode = r.status ?? 1;
    return;
  }
  const mod = await load();
  const entry = mod.run ?? mod.main;
  if (entry === undefined) throw new Error(`benchmark ${name} exports neither run() nor main()`);
  await entry();
}

await main();
