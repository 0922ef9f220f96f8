import type { TuneSetting } from './setting.js';

/** What one trial measured (a failed trial has `error` and no figures). */
export interface Measurement {
  throughput: number;
  rowsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  error?: string;
}

export type Phase = 'threads' | 'batching' | 'processes' | 'confirm';

export interface TrialRecord {
  phase: Phase;
  setting: TuneSetting;
  m: Measurement;
  withinBudget: boolean;
  /** Why the search stopped going further along this trial's dimension, if it did here. */
  note?: string;
}

export interface SearchOptions {
  p99BudgetMs: number;
  cores: number;
  maxInstances: number;
  maxThreads: number;
  batchSizes: number[];
  delaysUs: number[];
  maxProcesses: number;
  /** How many of the best thread settings batching is tried on. */
  keep: number;
  /** Wall-clock ms (performance.now()) after which no trial starts. */
  deadline: number;
  /** How many of the best settings are measured once more before the winner is chosen (0: none). */
  confirm?: number;
  /** Higher is better (default: rows/s); see openLoopScore. */
  score?: Score;
}

export type Score = (m: Measurement) => number;

export const byRows: Score = (m) => m.rowsPerSec;

/**
 * Open loop: every setting that keeps up delivers about the offered rate, so rows/s
 * cannot tell them apart; among those that keep up (95 % of the rate), lower p99 wins,
 * and any that keeps up beats any that does not.
 */
export function openLoopScore(rate: number): Score {
  return (m) => (m.throughput >= 0.95 * rate ? 1e9 - m.p99Ms : m.rowsPerSec);
}

export type RunTrial = (s: TuneSetting) => Promise<Measurement>;

export interface SearchResult {
  trials: TrialRecord[];
  winner?: TrialRecord;
  /** Set when the time cap ended the search early. */
  capped: boolean;
  /** How the trials were compared (for ranking them the same way). */
  score: Score;
}

const ok = (t: TrialRecord) => t.withinBudget && t.m.error === undefined && t.m.errors === 0;

/** Best first: settings within the budget by throughput, then the rest by throughput. */
export function rank(trials: readonly TrialRecord[], score: Score = byRows): TrialRecord[] {
  return [...trials].sort((a, b) => Number(ok(b)) - Number(ok(a)) || score(b.m) - score(a.m));
}

/**
 * Searches the grid in three passes instead of trying every point: instances × threads
 * with batching off (instances × threads within the cores), then batch sizes × queue
 * delays on the best few, then processes on each of those. Along each dimension, in
 * increasing order, the search stops when throughput falls or p99 leaves the budget:
 * a larger value of the same knob is not expected to win back what the last one lost.
 */
export async function search(run: RunTrial, o: SearchOptions): Promise<SearchResult> {
  const trials: TrialRecord[] = [];
  const score = o.score ?? byRows;
  const gt = (a: TrialRecord, b: TrialRecord) => score(a.m) > score(b.m);
  let capped = false;
  /** Tries `s`; undefined when the time cap has passed. */
  const trial = async (phase: Phase, s: TuneSetting): Promise<TrialRecord | undefined> => {
    if (performance.now() >= o.deadline) {
      capped = true;
      return undefined;
    }
    const m = await run(s);
    const t: TrialRecord = { phase, setting: s, m, withinBudget: m.error === undefined && m.p99Ms <= o.p99BudgetMs };
    trials.push(t);
    return t;
  };
  /** Walks one dimension upwards from `prev`; stops at the first worse or over-budget point. Returns the best. */
  const walk = async (phase: Phase, points: TuneSetting[], prev?: TrialRecord): Promise<TrialRecord | undefined> => {
    let best = prev && ok(prev) ? prev : undefined;
    let last = prev;
    for (const s of points) {
      const t = await trial(phase, s);
      if (!t) break;
      const fell = last !== undefined && ok(last) && gt(last, t);
      if (!ok(t) || fell) {
        t.note = !ok(t)
          ? t.m.error
            ? 'failed: stopped here'
            : 'p99 over budget: stopped here'
          : score === byRows
            ? 'throughput fell: stopped here'
            : 'worse at this rate (p99, or fell behind): stopped here';
        break;
      }
      if (!best || gt(t, best)) best = t;
      last = t;
    }
    return best;
  };
  const base = { maxBatch: 0, delayUs: 0, processes: 1 };
  // Pass 1: for each instance count, threads upwards; more instances while the best row improves.
  const rowBests: TrialRecord[] = [];
  let prevRow: TrialRecord | undefined;
  for (let i = 1; i <= Math.min(o.maxInstances, o.cores); i++) {
    const maxT = Math.min(o.maxThreads, Math.floor(o.cores / i));
    const points = Array.from({ length: maxT }, (_, k) => ({ ...base, instances: i, threads: k + 1 }));
    const best = await walk('threads', points);
    if (!best) break;
    rowBests.push(best);
    if (prevRow && gt(prevRow, best)) {
      best.note = `${best.note ? `${best.note}; ` : ''}worse than ${prevRow.setting.instances} instance(s): no more instances`;
      break;
    }
    prevRow = best;
  }
  // Pass 2: batching on the best few thread settings, batch sizes upwards per delay.
  const kept = rank(rowBests, score).filter(ok).slice(0, o.keep);
  const finalists: TrialRecord[] = [];
  for (const k of kept) {
    let top = k;
    for (const delayUs of o.delaysUs) {
      const points = o.batchSizes.map((maxBatch) => ({ ...k.setting, maxBatch, delayUs }));
      const best = await walk('batching', points, k);
      if (best && gt(best, top)) top = best;
    }
    finalists.push(top);
  }
  // Pass 3: processes on each finalist (its per-model settings unchanged), not only on
  // the single best: a setting a little behind in one process can scale better in two.
  let winner = rank(finalists, score)[0];
  for (const f of finalists) {
    const points = Array.from({ length: Math.max(0, o.maxProcesses - 1) }, (_, k) => ({ ...f.setting, processes: k + 2 }));
    const best = await walk('processes', points, f);
    if (best && winner && gt(best, winner)) winner = best;
  }
  winner = (await confirmBest(trials, o.confirm ?? 0, score, (s) => trial('confirm', s))) ?? winner;
  return { trials, ...(winner ? { winner } : {}), capped, score };
}

/**
 * One trial is one short sample: on a busy machine a lucky or unlucky one decides the
 * pick. The best `n` settings are measured again and the winner is the one with the
 * best mean score over both, if it stayed within the budget the second time too.
 */
async function confirmBest(
  trials: readonly TrialRecord[],
  n: number,
  score: Score,
  again: (s: TuneSetting) => Promise<TrialRecord | undefined>,
): Promise<TrialRecord | undefined> {
  const top = rank(trials, score).filter(ok).slice(0, n);
  if (top.length < 2) return undefined;
  let winner: { t: TrialRecord; mean: number } | undefined;
  for (const first of top) {
    const t = await again(first.setting);
    if (!t) break;
    const mean = (score(first.m) + score(t.m)) / 2;
    if (ok(t) && (!winner || mean > winner.mean)) winner = { t, mean };
  }
  return winner?.t;
}
