import type { ModelConfig } from '../config/index.js';
import { type SearchResult, type TrialRecord, rank } from './search.js';
import { settingLabel, toModelConfig } from './setting.js';

/** What `modelpipe tune` found: its load, budget, every trial and the winner's config. */
export interface TuneReport {
  model: string;
  load: string;
  p99BudgetMs: number;
  trialSeconds: number;
  startedAt: string;
  capped: boolean;
  /** Best first (see rank). */
  trials: TrialRecord[];
  winner?: { config: ModelConfig; processes: number; trial: TrialRecord };
}

export function tuneReport(r: SearchResult, head: Omit<TuneReport, 'trials' | 'winner' | 'capped'>): TuneReport {
  const w = r.winner;
  return {
    ...head,
    capped: r.capped,
    trials: rank(r.trials, r.score),
    ...(w ? { winner: { config: toModelConfig(w.setting), processes: w.setting.processes, trial: w } } : {}),
  };
}

const f = (n: number, d = 1) => n.toFixed(d);

/** Within budget, or why not; plus where the search stopped a dimension. */
export function verdict(t: TrialRecord, budgetMs: number): string {
  const base = t.m.error
    ? `failed: ${t.m.error}`
    : t.m.errors > 0
      ? `${t.m.errors} errors`
      : t.withinBudget
        ? 'within budget'
        : `p99 over ${budgetMs} ms`;
  return t.note && !t.note.startsWith('p99 over') && !t.note.startsWith('failed') ? `${base}; ${t.note}` : base;
}

/** The ranking: one line per configuration tried, best first, the winner marked. */
export function formatRanking(r: TuneReport): string {
  const head = ['#', 'phase', 'setting', 'rows/s', 'req/s', 'p50 ms', 'p99 ms', 'verdict'];
  const rows = r.trials.map((t, i) => [
    `${i + 1}${t === r.winner?.trial ? '*' : ''}`,
    t.phase,
    settingLabel(t.setting),
    f(t.m.rowsPerSec),
    f(t.m.throughput),
    f(t.m.p50Ms, 2),
    f(t.m.p99Ms, 2),
    verdict(t, r.p99BudgetMs),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 2 || i === 7 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  const title = `tune ${r.model}: ${r.load}, p99 budget ${r.p99BudgetMs} ms, ${r.trials.length} configurations${r.capped ? ' (time cap reached)' : ''}`;
  return [title, line(head), ...rows.map(line)].join('\n').replace(/ +$/gm, '');
}

export function formatTuneJson(r: TuneReport): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}
