/**
 * What the metrics split costs on the hot path: the small-request identity server
 * ([1,4] float32; GraphPipe and OIP REST JSON) of this build against the same server
 * of a baseline build (BENCH_BASELINE: a repository checkout with its own `dist`,
 * e.g. the commit before the split), in interleaved rounds, so drift on the shared
 * machine hits both alike. Reports after/before throughput ratios; a table and a
 * final JSON line.
 *
 *   BENCH_BASELINE=/tmp/mp-base npm run bench -- metrics-cost
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeRequest } from '../src/protocol/graphpipe/index.js';
import { Tensor } from '../src/tensor/index.js';
import { type LoadResult, combine, load, startServer, stopServer, table } from './load.js';

const here = dirname(fileURLToPath(import.meta.url));
const SECS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);

interface Case {
  name: string;
  path: string;
  body: Uint8Array;
  headers: Record<string, string>;
}

const CASES: Case[] = [
  {
    name: 'graphpipe',
    path: '/',
    body: encodeRequest({
      type: 'infer',
      config: '',
      inputNames: [],
      inputs: [new Tensor('float32', [1, 4], new Float32Array([1, 2, 3, 4]))],
      outputNames: [],
    }),
    headers: {},
  },
  {
    name: 'oip-rest',
    path: '/v2/models/identity/infer',
    body: Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] })),
    headers: { 'content-type': 'application/json' },
  },
];

async function compare(before: string, after: string, c: Case, concurrency: number): Promise<[LoadResult, LoadResult]> {
  const run = (url: string, secs: number) => load(url, c.path, c.body, concurrency, secs, c.headers);
  await run(before, 1); // warm-up
  await run(after, 1);
  const b: LoadResult[] = [];
  const a: LoadResult[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // Alternate which goes first, so neither always follows the other's GC debt.
    if (i % 2 === 0) {
      b.push(await run(before, SECS / ROUNDS));
      a.push(await run(after, SECS / ROUNDS));
    } else {
      a.push(await run(after, SECS / ROUNDS));
      b.push(await run(before, SECS / ROUNDS));
    }
  }
  return [combine(b), combine(a)];
}

export async function run(): Promise<void> {
  const base = process.env.BENCH_BASELINE;
  const baseScript = base === undefined ? undefined : join(base, 'dist', 'bench', 'servers', 'identity.js');
  if (baseScript === undefined || !existsSync(baseScript)) {
    throw new Error('set BENCH_BASELINE to a built checkout of the baseline commit (its dist/bench/servers/identity.js)');
  }
  const before = await startServer([baseScript]);
  const after = await startServer([join(here, 'servers', 'identity.js')]);
  const rows: (string | number)[][] = [];
  const out: Record<string, number> = {};
  try {
    for (const c of CASES) {
      for (const concurrency of [1, 8]) {
        const [b, a] = await compare(before.url, after.url, c, concurrency);
        if (a.errors || b.errors) throw new Error(`errors in ${c.name}: before ${b.errors}, after ${a.errors}`);
        const ratio = a.rps / b.rps;
        rows.push([`${c.name} c=${concurrency}`, b.rps, a.rps, `${(ratio * 100).toFixed(1)} %`, b.p99, a.p99]);
        out[`${c.name.replace('-', '_')}_c${concurrency}_ratio`] = ratio;
      }
    }
  } finally {
    await stopServer(before.proc);
    await stopServer(after.proc);
  }
  console.log(`\nMetrics split cost: small requests ([1,4] float32, loopback), ${ROUNDS} interleaved rounds of ${SECS / ROUNDS} s\n`);
  console.log(table(['case', 'before req/s', 'after req/s', 'after/before', 'before p99 ms', 'after p99 ms'], rows));
  console.log(JSON.stringify({ bench: 'metrics-cost', ...out }));
}
