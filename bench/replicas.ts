/**
 * What client-side balancing costs (`npm run bench -- replicas`): squeezenet batch 1
 * from 32 concurrent callers through one GraphPipeClient, over 2 replicas of 1
 * instance each ("a,b": the endpoint set balances) vs straight to 1 replica of 2
 * instances: the same model instances and threads either way (every instance
 * single-threaded), so the ratio is the price of the set (choosing, counting,
 * probing, a second server process) rather than of more compute. Interleaved rounds,
 * medians of the per-round rates; table + final JSON line. BENCH_SECONDS (per round,
 * default 4) and BENCH_ROUNDS (default 3) size it.
 */
import { GraphPipeClient } from '../src/client/graphpipe-client.js';
import { Tensor } from '../src/tensor/index.js';
import { Replicas } from '../test/helpers/replicas.js';
import { sharedPath } from '../test/helpers/shared.js';
import { type LoadResult, closedLoop, table } from './load.js';

const SECS = Number(process.env.BENCH_SECONDS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = 32;

interface Variant {
  label: string;
  set: Replicas;
  client: GraphPipeClient;
  rounds: LoadResult[];
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

async function variant(label: string, replicas: number, instances: number): Promise<Variant> {
  const set = await Replicas.start(replicas, {
    model: sharedPath('models/squeezenet1.1.onnx'),
    args: ['--instances', String(instances), '--intra-op-threads', '1'],
    startMs: 60_000,
  });
  return { label, set, client: new GraphPipeClient(set.list), rounds: [] };
}

export async function run(): Promise<void> {
  const x = new Tensor('float32', [1, 3, 224, 224], new Float32Array(3 * 224 * 224).fill(100));
  const variants = [await variant('1 replica × 2 instances, one URL', 1, 2), await variant('2 replicas × 1 instance, "a,b"', 2, 1)];
  try {
    for (const v of variants) await closedLoop(() => v.client.inferRaw(x).then(() => ({ ok: true })), CONCURRENCY, 1); // warm-up
    for (let r = 0; r < ROUNDS; r++)
      for (const v of variants) {
        const res = await closedLoop(() => v.client.inferRaw(x).then(() => ({ ok: true })), CONCURRENCY, SECS);
        v.rounds.push(res);
      }
    const base = median(variants[0]?.rounds.map((r) => r.rps) ?? []);
    const rows = variants.map((v) => {
      const rps = median(v.rounds.map((r) => r.rps));
      return {
        label: v.label,
        rps,
        p50: median(v.rounds.map((r) => r.p50)),
        p99: median(v.rounds.map((r) => r.p99)),
        ratio: rps / base,
        errors: v.rounds.reduce((n, r) => n + r.errors, 0),
      };
    });
    console.log(
      `\nsqueezenet batch 1, ${CONCURRENCY} concurrent callers, GraphPipeClient; ${ROUNDS} interleaved rounds of ${SECS} s, medians\n`,
    );
    console.log(
      table(
        ['variant', 'req/s', 'p50 ms', 'p99 ms', 'vs 1 replica'],
        rows.map((r) => [r.label, r.rps, r.p50, r.p99, `${r.ratio.toFixed(3)}×`]),
      ),
    );
    const overhead = 1 - (rows[1]?.ratio ?? Number.NaN);
    console.log(`\nbalancing overhead: ${(overhead * 100).toFixed(1)} % of throughput\n`);
    console.log(JSON.stringify({ bench: 'replicas', concurrency: CONCURRENCY, seconds: SECS, rounds: ROUNDS, rows, overhead }));
  } finally {
    for (const v of variants) {
      await v.client.close();
      await v.set.close();
    }
  }
}
