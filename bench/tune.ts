/**
 * `modelpipe tune` against the whole grid: on squeezenet with a small grid, tune's
 * pruned search picks a configuration; then every configuration of the grid (the
 * pick among them) is measured in three interleaved rounds, and the pick's median
 * throughput is compared with the best median found within the p99 budget
 * (target ≥ 95 %). Also how many trials the search needed against the grid's size.
 * One run; a table and a final JSON line.
 */
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Measurement, type TuneSetting, runTrial, runTune, settingLabel } from '../src/tune/index.js';
import { table } from './load.js';

const here = dirname(fileURLToPath(import.meta.url));
const shared = process.env.MODELPIPE_SHARED ?? join(here, '..', '..', '..', 'shared');
const SQUEEZE = join(shared, 'models', 'squeezenet1.1.onnx');
const TRIAL_S = Number(process.env.BENCH_SECONDS ?? 2);
const CONCURRENCY = 4;
const BUDGET_MS = 1000;
const ROUNDS = 3;
const CORES = Math.min(2, availableParallelism());
const BATCH_SIZES = [4];
const DELAYS_US = [1000];
const PROCESSES = [1, 2];

/** Every point of the grid tune searches (instances x threads within the cores). */
function grid(): TuneSetting[] {
  const out: TuneSetting[] = [];
  for (let i = 1; i <= CORES; i++) {
    for (let t = 1; i * t <= CORES; t++) {
      const batching = [
        { maxBatch: 0, delayUs: 0 },
        ...BATCH_SIZES.flatMap((maxBatch) => DELAYS_US.map((delayUs) => ({ maxBatch, delayUs }))),
      ];
      for (const b of batching) for (const processes of PROCESSES) out.push({ instances: i, threads: t, ...b, processes });
    }
  }
  return out;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};
const key = (s: TuneSetting) => settingLabel(s);

export async function run(): Promise<void> {
  const t0 = performance.now();
  const report = await runTune({
    modelPath: SQUEEZE,
    protocol: 'rest',
    concurrency: CONCURRENCY,
    p99BudgetMs: BUDGET_MS,
    cores: CORES,
    maxInstances: CORES,
    maxThreads: CORES,
    batchSizes: BATCH_SIZES,
    delaysUs: DELAYS_US,
    maxProcesses: Math.max(...PROCESSES),
    keep: 2,
    confirm: 3,
    trialSeconds: TRIAL_S,
    timeCapSeconds: 600,
  });
  const tuneS = (performance.now() - t0) / 1000;
  const pick = report.winner?.trial.setting;
  if (!pick) throw new Error('tune found no configuration within the budget');
  const points = grid();
  const seen = new Map<string, Measurement[]>(points.map((p) => [key(p), []]));
  const t1 = performance.now();
  for (let round = 0; round < ROUNDS; round++) {
    // Interleaved: each round runs the whole grid, starting one further along each time.
    for (let k = 0; k < points.length; k++) {
      const p = points[(k + round) % points.length] as TuneSetting;
      const m = await runTrial(p, {
        modelPath: SQUEEZE,
        model: report.model,
        protocol: 'rest',
        concurrency: CONCURRENCY,
        trialMs: TRIAL_S * 1000,
        startMs: 60_000,
      });
      seen.get(key(p))?.push(m);
      process.stderr.write(`round ${round + 1}: ${key(p)}: ${m.rowsPerSec.toFixed(1)} rows/s${m.error ? ` (${m.error})` : ''}\n`);
    }
  }
  const gridS = (performance.now() - t1) / 1000 / ROUNDS;
  const rows = points.map((p) => {
    const ms = seen.get(key(p)) ?? [];
    const ok = ms.filter((m) => m.error === undefined);
    return { setting: key(p), rows: median(ok.map((m) => m.rowsPerSec)), p99: median(ok.map((m) => m.p99Ms)), pick: key(p) === key(pick) };
  });
  const within = rows.filter((r) => r.p99 <= BUDGET_MS).sort((a, b) => b.rows - a.rows);
  const best = within[0];
  const picked = rows.find((r) => r.pick);
  if (!best || !picked) throw new Error('no grid configuration within the budget');
  console.log(
    `\ntune on squeezenet, concurrency ${CONCURRENCY}, p99 budget ${BUDGET_MS} ms, ${TRIAL_S} s trials, medians of ${ROUNDS} interleaved rounds\n`,
  );
  console.log(
    table(
      ['configuration', 'rows/s', 'p99 ms', ''],
      rows
        .sort((a, b) => b.rows - a.rows)
        .map((r) => [r.setting, r.rows, r.p99, `${r.pick ? 'tune pick' : ''}${r === best ? ' best' : ''}`]),
    ),
  );
  const pct = (100 * picked.rows) / best.rows;
  console.log(
    `\npick ${picked.setting}: ${pct.toFixed(1)} % of the best (${best.setting}); tune ran ${report.trials.length} trials in ${tuneS.toFixed(0)} s, the grid ${points.length} in ${gridS.toFixed(0)} s a round`,
  );
  console.log(
    JSON.stringify({
      bench: 'tune',
      pick: picked.setting,
      best: best.setting,
      pick_rows_per_s: picked.rows,
      best_rows_per_s: best.rows,
      pick_pct_of_best: pct,
      tune_trials: report.trials.length,
      grid_size: points.length,
      tune_seconds: tuneS,
      grid_seconds_per_round: gridS,
      targets: { pick_ge_95pct_of_best: pct >= 95 },
    }),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await run();
