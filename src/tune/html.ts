import { type TuneReport, formatRanking, verdict } from './report.js';
import { settingLabel } from './setting.js';
import { esc, niceMax, num } from '../perf/svg.js';

/**
 * `tune --html`: one self-contained page (inline SVG, no script, no network), in
 * src/perf/html.ts's plotting style: every configuration tried as a point of rows/s
 * against p99, the budget as a line, the winner ringed; the ranking table below.
 */

const W = 640;
const H = 360;
const M = { left: 60, right: 20, top: 24, bottom: 50 };
const PHASE_COLOR: Record<string, string> = { threads: '#1f77b4', batching: '#2ca02c', processes: '#ff7f0e', confirm: '#9467bd' };

function scatter(r: TuneReport): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const xMax = niceMax(Math.max(...r.trials.map((t) => t.m.rowsPerSec)));
  const yMax = niceMax(Math.max(r.p99BudgetMs, ...r.trials.map((t) => t.m.p99Ms)));
  const x = (v: number) => num(M.left + (v / xMax) * pw);
  const y = (v: number) => num(M.top + ph - (v / yMax) * ph);
  const parts: string[] = [];
  parts.push(`<text x="${W / 2}" y="14" text-anchor="middle" font-weight="bold">p99 vs throughput, every configuration</text>`);
  parts.push(`<line x1="${M.left}" y1="${M.top + ph}" x2="${M.left + pw}" y2="${M.top + ph}" stroke="#000"/>`);
  parts.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + ph}" stroke="#000"/>`);
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    const xv = (xMax * i) / 4;
    parts.push(`<text x="${M.left - 6}" y="${y(v) + 4}" text-anchor="end">${num(v)}</text>`);
    parts.push(`<line x1="${M.left}" y1="${y(v)}" x2="${M.left + pw}" y2="${y(v)}" stroke="#ddd"/>`);
    parts.push(`<text x="${x(xv)}" y="${M.top + ph + 16}" text-anchor="middle">${num(xv)}</text>`);
  }
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 10}" text-anchor="middle">throughput (rows/s)</text>`);
  parts.push(`<text x="14" y="${M.top + ph / 2}" transform="rotate(-90 14 ${M.top + ph / 2})" text-anchor="middle">p99 (ms)</text>`);
  const by = y(r.p99BudgetMs);
  parts.push(`<line class="budget" x1="${M.left}" y1="${by}" x2="${M.left + pw}" y2="${by}" stroke="#d62728" stroke-dasharray="6 4"/>`);
  parts.push(`<text x="${M.left + pw - 4}" y="${by - 4}" text-anchor="end" fill="#d62728">budget ${r.p99BudgetMs} ms</text>`);
  for (const t of r.trials) {
    const color = PHASE_COLOR[t.phase] ?? '#7f7f7f';
    const title = `${settingLabel(t.setting)}: ${num(t.m.rowsPerSec)} rows/s, p99 ${num(t.m.p99Ms)} ms, ${verdict(t, r.p99BudgetMs)}`;
    parts.push(
      `<circle class="trial" data-phase="${t.phase}" cx="${x(t.m.rowsPerSec)}" cy="${y(t.m.p99Ms)}" r="5" fill="${color}" fill-opacity="${t.withinBudget ? 0.9 : 0.3}"><title>${esc(title)}</title></circle>`,
    );
    if (t === r.winner?.trial) {
      parts.push(
        `<circle class="winner" cx="${x(t.m.rowsPerSec)}" cy="${y(t.m.p99Ms)}" r="9" fill="none" stroke="#000" stroke-width="2"/>`,
      );
    }
  }
  Object.entries(PHASE_COLOR).forEach(([phase, color], k) => {
    parts.push(`<circle cx="${M.left + 10 + k * 90}" cy="${M.top + 4}" r="5" fill="${color}"/>`);
    parts.push(`<text x="${M.left + 18 + k * 90}" y="${M.top + 8}">${phase}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">${parts.join('')}</svg>`;
}

export function formatTuneHtml(r: TuneReport): string {
  const w = r.winner;
  const body = r.trials.length === 0 ? '<p>No configuration was measured.</p>' : scatter(r);
  const pick = w
    ? `<p>Winner: ${esc(settingLabel(w.trial.setting))}</p><pre>${esc(JSON.stringify(w.config, null, 2))}</pre>`
    : '<p>No configuration met the budget.</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>modelpipe tune: ${esc(r.model)}</title>
<style>body{font-family:sans-serif;margin:2em}svg{display:block;margin:1em 0}pre{background:#f6f6f6;padding:1em}</style></head>
<body><h1>modelpipe tune: ${esc(r.model)}</h1>
<p>${esc(r.load)}, p99 budget ${r.p99BudgetMs} ms, trials of ${r.trialSeconds} s, started ${esc(r.startedAt)}</p>
${body}
${pick}
<pre>${esc(formatRanking(r))}</pre>
</body></html>
`;
}
