import type { StepResult } from './measure.js';
import { type PerfReport, formatTable, stepLabel } from './report.js';
import { esc, niceMax, num } from './svg.js';

/**
 * `--html report.html`: one self-contained page (inline SVG, no script, no network)
 * with latency against throughput and the percentiles of every step.
 */

const W = 640;
const H = 360;
const M = { left: 60, right: 110, top: 20, bottom: 50 };
const SERIES: { key: keyof StepResult['latencyMs']; name: string; color: string }[] = [
  { key: 'p50', name: 'p50', color: '#1f77b4' },
  { key: 'p90', name: 'p90', color: '#2ca02c' },
  { key: 'p95', name: 'p95', color: '#ff7f0e' },
  { key: 'p99', name: 'p99', color: '#d62728' },
  { key: 'max', name: 'max', color: '#7f7f7f' },
];

/** A line chart: one polyline with points per series; x from `xs` (numbers) and labels under the ticks. */
function chart(title: string, xTitle: string, xs: number[], xLabels: string[] | undefined, steps: StepResult[]): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const xMax = xLabels ? Math.max(1, xs.length - 1) : niceMax(Math.max(...xs));
  const yMax = niceMax(Math.max(...steps.map((s) => s.latencyMs.max)));
  const x = (v: number) => num(M.left + (xLabels ? v : v / xMax) * (xLabels ? pw / xMax : pw));
  const y = (v: number) => num(M.top + ph - (v / yMax) * ph);
  const parts: string[] = [];
  parts.push(`<text x="${W / 2}" y="14" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  parts.push(`<line x1="${M.left}" y1="${M.top + ph}" x2="${M.left + pw}" y2="${M.top + ph}" stroke="#000"/>`);
  parts.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + ph}" stroke="#000"/>`);
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    parts.push(`<text x="${M.left - 6}" y="${y(v) + 4}" text-anchor="end">${num(v)}</text>`);
    parts.push(`<line x1="${M.left}" y1="${y(v)}" x2="${M.left + pw}" y2="${y(v)}" stroke="#ddd"/>`);
  }
  const ticks = xLabels
    ? xLabels.map((l, i) => [i, l] as const)
    : [0, 1, 2, 3, 4].map((i) => [(xMax * i) / 4, String(num((xMax * i) / 4))] as const);
  for (const [v, l] of ticks) parts.push(`<text x="${x(v)}" y="${M.top + ph + 16}" text-anchor="middle">${esc(l)}</text>`);
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 10}" text-anchor="middle">${esc(xTitle)}</text>`);
  parts.push(`<text x="14" y="${M.top + ph / 2}" transform="rotate(-90 14 ${M.top + ph / 2})" text-anchor="middle">latency (ms)</text>`);
  SERIES.forEach((s, k) => {
    const pts = steps.map((st, i) => `${x(xLabels ? i : (xs[i] as number))},${y(st.latencyMs[s.key])}`);
    parts.push(
      `<polyline class="series" data-series="${s.name}" fill="none" stroke="${s.color}" stroke-width="2" points="${pts.join(' ')}"/>`,
    );
    for (const p of pts) {
      const [cx, cy] = p.split(',');
      parts.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${s.color}"/>`);
    }
    const ly = M.top + 10 + k * 18;
    parts.push(`<line x1="${W - M.right + 14}" y1="${ly}" x2="${W - M.right + 34}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`);
    parts.push(`<text x="${W - M.right + 40}" y="${ly + 4}">${s.name}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">${parts.join('')}</svg>`;
}

export function formatHtml(r: PerfReport): string {
  const steps = r.steps;
  const body =
    steps.length === 0
      ? '<p>No steps were measured.</p>'
      : [
          chart(
            'Latency vs throughput',
            'throughput (requests/s)',
            steps.map((s) => s.throughput),
            undefined,
            steps,
          ),
          chart(
            'Latency percentiles per load step',
            'load step',
            steps.map((_, i) => i),
            steps.map(stepLabel),
            steps,
          ),
        ].join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>modelpipe perf: ${esc(r.model)}</title>
<style>body{font-family:sans-serif;margin:2em}svg{display:block;margin:1em 0}pre{background:#f6f6f6;padding:1em}</style></head>
<body><h1>modelpipe perf: ${esc(r.model)}</h1>
<p>${esc(r.protocol)} ${esc(r.url)}, started ${esc(r.startedAt)}, windows of ${r.windowMs} ms, stability ${r.stability} %</p>
${body}
<pre>${esc(formatTable(r))}</pre>
</body></html>
`;
}
