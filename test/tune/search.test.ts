import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Measurement,
  type SearchOptions,
  type TuneSetting,
  openLoopScore,
  rank,
  search,
  settingLabel,
  toModelConfig,
} from '../../src/tune/index.js';
import { parseModelConfig } from '../../src/config/index.js';

/** A synthetic machine: figures from a function of the setting; every setting asked for is recorded. */
function machine(f: (s: TuneSetting) => { rows: number; p99: number }) {
  const asked: TuneSetting[] = [];
  const run = async (s: TuneSetting): Promise<Measurement> => {
    asked.push(s);
    const { rows, p99 } = f(s);
    return { throughput: rows / Math.max(1, s.maxBatch), rowsPerSec: rows, p50Ms: p99 / 2, p99Ms: p99, errors: 0 };
  };
  return { run, asked };
}

const OPTS: SearchOptions = {
  p99BudgetMs: 50,
  cores: 4,
  maxInstances: 4,
  maxThreads: 4,
  batchSizes: [2, 4, 8],
  delaysUs: [500],
  maxProcesses: 3,
  keep: 2,
  deadline: Number.POSITIVE_INFINITY,
};

test('the best setting within the p99 budget wins, not the fastest one over it', async () => {
  // More rows with every batch size, but batch 8 breaks the budget.
  const { run } = machine((s) => ({
    rows: 100 * s.instances + 10 * s.threads + 20 * s.maxBatch,
    p99: s.maxBatch >= 8 ? 80 : 10 + s.maxBatch,
  }));
  const r = await search(run, { ...OPTS, maxProcesses: 1 });
  assert.ok(r.winner);
  for (const t of r.trials) assert.equal(t.withinBudget, t.m.p99Ms <= OPTS.p99BudgetMs);
  assert.equal(r.winner.setting.maxBatch, 4, settingLabel(r.winner.setting));
  assert.ok(
    r.trials.some((t) => t.setting.maxBatch === 8 && !t.withinBudget),
    'batch 8 was tried and is over budget',
  );
  const best = Math.max(...r.trials.filter((t) => t.withinBudget).map((t) => t.m.rowsPerSec));
  assert.equal(r.winner.m.rowsPerSec, best);
  // The ranking puts the within-budget settings first, best first.
  const ranked = rank(r.trials);
  assert.equal(ranked[0], r.winner);
  const firstOver = ranked.findIndex((t) => !t.withinBudget);
  assert.ok(ranked.slice(firstOver).every((t) => !t.withinBudget));
  // The winner's config is in the one schema, parsed without warnings.
  const warnings: string[] = [];
  const c = parseModelConfig(toModelConfig(r.winner.setting), { warn: (m) => warnings.push(m) });
  assert.deepEqual(warnings, []);
  assert.equal(c.max_batch_size, 4);
});

test('a worse dimension stops the search: no more threads, instances or processes after a fall', async () => {
  // Threads beyond one and processes beyond one only cost; two instances are best.
  const { run, asked } = machine((s) => ({
    rows: (s.instances === 2 ? 200 : 100 + 10 * s.instances) - 30 * (s.threads - 1) - 50 * (s.processes - 1),
    p99: 10,
  }));
  const r = await search(run, { ...OPTS, batchSizes: [] });
  assert.deepEqual(r.winner?.setting, { instances: 2, threads: 1, maxBatch: 0, delayUs: 0, processes: 1 });
  // One instance: threads 1, 2 (fell: stop, never 3 or 4). Two: 1, 2 (fell). Three: 1 (fewer rows than two: stop).
  const pass1 = asked.filter((s) => s.processes === 1).map((s) => `${s.instances}x${s.threads}`);
  assert.deepEqual(pass1, ['1x1', '1x2', '2x1', '2x2', '3x1']);
  assert.ok(!asked.some((s) => s.instances === 4), 'four instances were not tried after three fell');
  // Processes on the two kept settings (2x1, 3x1): 2 fell for each, so 3 was never tried.
  assert.deepEqual(
    asked.filter((s) => s.processes > 1).map((s) => `${s.instances}x${s.threads}/${s.processes}`),
    ['2x1/2', '3x1/2'],
  );
  assert.ok(r.trials.find((t) => t.setting.processes === 2)?.note?.includes('throughput fell'));
  // instances x threads never exceed the cores.
  assert.ok(asked.every((s) => s.instances * s.threads <= OPTS.cores));
});

test('nothing within budget: no winner; the time cap stops the search', async () => {
  const over = machine(() => ({ rows: 100, p99: 500 }));
  const r = await search(over.run, OPTS);
  assert.equal(r.winner, undefined);
  assert.ok(r.trials.length > 0 && r.trials.every((t) => !t.withinBudget));
  const capped = machine(() => ({ rows: 100, p99: 1 }));
  const c = await search(capped.run, { ...OPTS, deadline: performance.now() - 1 });
  assert.equal(c.capped, true);
  assert.equal(capped.asked.length, 0);
});

test('open loop: among settings that keep up with the rate, the lowest p99 wins', async () => {
  // Every setting delivers the offered 50 req/s except one instance of one thread; p99 falls with instances.
  const { run } = machine((s) => ({ rows: s.instances === 1 && s.threads === 1 ? 30 : 50, p99: 40 / s.instances + s.threads }));
  const r = await search(run, { ...OPTS, batchSizes: [], maxProcesses: 1, score: openLoopScore(50) });
  assert.equal(r.winner?.setting.instances, 4);
  assert.equal(rank(r.trials, r.score)[0], r.winner);
});

test('confirmation: a lucky first sample does not decide the pick', async () => {
  // 1x2 looks best the first time it is measured only; measured again it is slower than 2x1.
  let luck = 1;
  const { run, asked } = machine((s) => {
    if (s.instances === 1 && s.threads === 2) return { rows: 100 * luck--, p99: 10 };
    return { rows: s.instances === 2 ? 80 : 50, p99: 10 };
  });
  const r = await search(run, { ...OPTS, cores: 2, batchSizes: [], maxProcesses: 1, confirm: 2 });
  assert.deepEqual(
    asked.slice(-2).map((s) => `${s.instances}x${s.threads}`),
    ['1x2', '2x1'],
  );
  assert.equal(r.winner?.phase, 'confirm');
  assert.equal(`${r.winner?.setting.instances}x${r.winner?.setting.threads}`, '2x1');
});
