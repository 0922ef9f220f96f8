import type { StepResult } from './measure.js';

/** What `modelpipe perf` measured: the target, the settings and one result per load step. */
export interface PerfReport {
  url: string;
  protocol: string;
  model: string;
  rowsPerRequest: number;
  windowMs: number;
  stability: number;
  startedAt: string;
  steps: StepResult[];
}

const f = (n: number, d = 1) => n.toFixed(d);

export function stepLabel(s: Pick<StepResult, 'mode' | 'value' | 'arrivals'>): string {
  return s.mode === 'concurrency' ? `c=${s.value}` : `${s.value}/s${s.arrivals === 'poisson' ? ' poisson' : ''}`;
}

function errorText(e: Record<string, number>): string {
  const parts = Object.entries(e).map(([k, v]) => `${k}:${v}`);
  return parts.length === 0 ? '0' : parts.join(' ');
}

/** The terminal table: one line per step. Server columns only when the server reported its split. */
export function formatTable(r: PerfReport): string {
  const withServer = r.steps.some((s) => s.server);
  const head = ['load', 'req/s', 'rows/s', 'p50 ms', 'p90 ms', 'p95 ms', 'p99 ms', 'max ms', 'errors', 'stable'];
  if (withServer) head.push('queue ms', 'input ms', 'infer ms', 'output ms');
  const rows = r.steps.map((s) => {
    const l = s.latencyMs;
    const row = [stepLabel(s), f(s.throughput), f(s.rowsPerSec), f(l.p50, 2), f(l.p90, 2), f(l.p95, 2), f(l.p99, 2), f(l.max, 2)];
    row.push(errorText(s.errors), s.stable ? 'yes' : `no (${s.windows} windows)`);
    if (withServer) {
      const v = s.server;
      row.push(...(v ? [v.queueMs, v.computeInputMs, v.computeInferMs, v.computeOutputMs].map((x) => f(x, 2)) : ['-', '-', '-', '-']));
    }
    return row;
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i] as number)).join('  ');
  const title = `${r.protocol} ${r.url} model ${r.model}, ${r.rowsPerRequest} row(s) per request`;
  return [title, line(head), ...rows.map(line)].join('\n');
}

const CSV_HEAD = [
  'mode',
  'value',
  'arrivals',
  'stable',
  'windows',
  'duration_ms',
  'requests',
  'throughput_rps',
  'rows_per_s',
  'p50_ms',
  'p90_ms',
  'p95_ms',
  'p99_ms',
  'max_ms',
  'mean_ms',
  'errors',
  'server_queue_ms',
  'server_compute_input_ms',
  'server_compute_infer_ms',
  'server_compute_output_ms',
];

/** One header line and one line per step; errors as "CODE:n CODE:n"; server columns empty when absent. */
export function formatCsv(r: PerfReport): string {
  const lines = r.steps.map((s) => {
    const l = s.latencyMs;
    const v = s.server;
    const cells = [
      s.mode,
      s.value,
      s.arrivals ?? '',
      s.stable,
      s.windows,
      f(s.durationMs, 1),
      s.requests,
      f(s.throughput, 3),
      f(s.rowsPerSec, 3),
      ...[l.p50, l.p90, l.p95, l.p99, l.max, l.mean].map((x) => f(x, 3)),
      Object.keys(s.errors).length === 0 ? '' : errorText(s.errors),
      ...(v ? [v.queueMs, v.computeInputMs, v.computeInferMs, v.computeOutputMs].map((x) => f(x, 4)) : ['', '', '', '']),
    ];
    return cells.join(',');
  });
  return `${[CSV_HEAD.join(','), ...lines].join('\n')}\n`;
}

export function formatJson(r: PerfReport): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}
