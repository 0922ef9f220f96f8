import { writeFileSync } from 'node:fs';
import { ModelpipeError } from '../errors/index.js';
import {
  MAX_CONCURRENCY,
  PROTOCOLS,
  type Protocol,
  formatCsv,
  formatHtml,
  formatJson,
  formatTable,
  parseRange,
  parseShape,
  runPerf,
  stepLabel,
} from '../perf/index.js';
import { int, parseWithEnv, str } from '../flags/args.js';
import { needParentDir } from './checks.js';

export const PERF_HELP = `modelpipe perf URL [options]
  Measures a model server: throughput and latency percentiles per load step.
  URL is a GraphPipe endpoint (http://host:port[/model]), an OIP server with --model
  (http://host:port), or OIP gRPC (grpc://host:port, with --model).
  --model NAME              the OIP model (REST and gRPC)
  --protocol P              graphpipe | rest (binary tensors) | rest-json | grpc (default: from the URL)
  --concurrency R           closed loop at each concurrency, e.g. 1:32:x2 (default 1)
  --request-rate R          open loop at each rate in requests/s, e.g. 100:800:100; latency
                            counts from when a request was due (no coordinated omission)
  --arrivals A              constant | poisson (open loop; default constant)
  --max-inflight N          open loop: most requests outstanding (default 256)
  --batch-size N            rows per request, for a dynamic dimension 0 (default 1)
  --shape NAME:DIMS         an input's full shape (repeatable), for other dynamic dimensions
                            or inexact metadata
  --data random|zero        generated input values (default random)
  --npy [NAME=]FILE         an input's values from a .npy file (repeatable)
  --window-ms N             measurement window (default 1000)
  --stability PCT           three windows in a row within PCT percent end a step (default 10)
  --step-cap-ms N           a step ends after this long even if unstable (default 10 windows)
  --timeout-ms N            per-request timeout (default 30000)
  --csv FILE  --json FILE   write the results
  --html FILE               a page with latency-vs-throughput and percentile plots (inline SVG)
  Against modelpipe (or any server with the OIP statistics extension) each step also
  shows the server-side split: queue, compute input, compute infer, compute output.`;

const FLAGS = {
  model: { type: 'string' },
  protocol: { type: 'string' },
  concurrency: { type: 'string' },
  'request-rate': { type: 'string' },
  arrivals: { type: 'string' },
  'max-inflight': { type: 'string' },
  'batch-size': { type: 'string' },
  shape: { type: 'string', multiple: true },
  data: { type: 'string' },
  npy: { type: 'string', multiple: true },
  'window-ms': { type: 'string' },
  stability: { type: 'string' },
  'step-cap-ms': { type: 'string' },
  'timeout-ms': { type: 'string' },
  csv: { type: 'string' },
  json: { type: 'string' },
  html: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function oneOf<T extends string>(v: unknown, flag: string, allowed: readonly T[]): T | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(s))
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--${flag} must be one of ${allowed.join(', ')}, got ${s}`);
  return s as T;
}

function positive(v: unknown, flag: string): number | undefined {
  const n = int(v, flag);
  if (n === 0) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--${flag} must be positive`);
  return n;
}

const many = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : []);

export async function perfCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseWithEnv(argv, FLAGS);
  if (v.help) {
    console.log(PERF_HELP);
    return;
  }
  const url = positionals[0];
  if (url === undefined || positionals.length > 1) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `perf takes one URL\n\n${PERF_HELP}`);
  for (const flag of ['csv', 'json', 'html'] as const) {
    const p = str(v[flag]);
    if (p !== undefined) needParentDir(p, `--${flag}`);
  }
  const windowMs = positive(v['window-ms'], 'window-ms') ?? 1000;
  const stability = Number(str(v.stability) ?? 10);
  if (!(stability > 0)) throw new ModelpipeError('MP_ERR_BAD_CONFIG', '--stability must be a positive percentage');
  const npy = new Map(
    many(v.npy).map((s) => {
      const i = s.indexOf('=');
      return i < 0 ? ['', s] : [s.slice(0, i), s.slice(i + 1)];
    }),
  );
  const rateText = str(v['request-rate']);
  const progress = process.stderr.isTTY === true;
  const report = await runPerf({
    url,
    ...opt('protocol', oneOf<Protocol>(v.protocol, 'protocol', PROTOCOLS)),
    ...opt('model', str(v.model)),
    concurrency: parseRange(str(v.concurrency) ?? '1', 'concurrency'),
    rates: rateText === undefined ? [] : parseRange(rateText, 'request-rate'),
    arrivals: oneOf(v.arrivals, 'arrivals', ['constant', 'poisson'] as const) ?? 'constant',
    maxInFlight: Math.min(MAX_CONCURRENCY, positive(v['max-inflight'], 'max-inflight') ?? 256),
    ...opt('batchSize', positive(v['batch-size'], 'batch-size')),
    shapes: new Map(many(v.shape).map(parseShape)),
    data: oneOf(v.data, 'data', ['random', 'zero'] as const) ?? 'random',
    npy,
    windowMs,
    stability,
    stepCapMs: positive(v['step-cap-ms'], 'step-cap-ms') ?? windowMs * 10,
    timeoutMs: positive(v['timeout-ms'], 'timeout-ms') ?? 30_000,
    // The live line only on a terminal: a redirected stderr gets no control characters.
    ...(progress
      ? {
          onWindow: (step, n, w) => {
            const rps = (w.ok * 1000) / Math.max(1, w.endMs - w.startMs);
            process.stderr.write(`\r\x1b[K${stepLabel({ ...step })}: window ${n}, ${rps.toFixed(1)} req/s`);
          },
        }
      : {}),
  });
  if (progress) process.stderr.write('\r\x1b[K');
  console.log(formatTable(report));
  const csv = str(v.csv);
  if (csv !== undefined) writeFileSync(csv, formatCsv(report));
  const json = str(v.json);
  if (json !== undefined) writeFileSync(json, formatJson(report));
  const html = str(v.html);
  if (html !== undefined) writeFileSync(html, formatHtml(report));
}

function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
