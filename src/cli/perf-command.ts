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
import { helpText } from '../flags/help.js';
import { defineCommand, flagGroup, parseFlags } from '../flags/table.js';
import { PRESET_FLAGS } from '../flags/vision-flags.js';
import { loadPresetConfig, resolvePreset } from '../vision/presets.js';
import { needParentDir } from './checks.js';

const MEASURE = flagGroup({
  model: { type: 'string', value: 'NAME', help: 'the OIP model (REST and gRPC)' },
  protocol: {
    type: 'string',
    value: 'P',
    choices: PROTOCOLS,
    help: 'graphpipe | rest (binary tensors) | rest-json | grpc',
    defaultNote: 'from the URL',
  },
  concurrency: { type: 'string', value: 'R', default: '1', help: 'closed loop at each concurrency, e.g. 1:32:x2' },
  'request-rate': {
    type: 'string',
    value: 'R',
    help: 'open loop at each rate in requests/s, e.g. 100:800:100; latency counts from when a request was due (no coordinated omission)',
  },
  arrivals: { type: 'string', choices: ['constant', 'poisson'], default: 'constant', help: 'open-loop arrivals' },
  'max-inflight': { type: 'int', min: 1, default: '256', help: 'open loop: most requests outstanding' },
  'batch-size': { type: 'int', min: 1, help: 'rows per request, for a dynamic dimension 0', defaultNote: '1' },
  shape: {
    type: 'string',
    value: 'NAME:DIMS',
    multiple: true,
    help: "an input's full shape, for other dynamic dimensions or inexact metadata",
  },
  data: { type: 'string', choices: ['random', 'zero'], default: 'random', help: 'generated input values' },
  npy: { type: 'string', value: '[NAME=]FILE', multiple: true, help: "an input's values from a .npy file" },
  images: {
    type: 'string',
    value: 'DIR',
    help: 'real data: the JPEG/PNG/WebP/GIF files under DIR through --preset, --batch-size images per request, cycled',
  },
  ...PRESET_FLAGS,
  jsonl: {
    type: 'string',
    value: 'FILE',
    help: 'real data: one request per line, {"inputs": {NAME: nested array}} or a bare nested array (one input), cycled',
  },
  'window-ms': { type: 'int', min: 1, default: '1000', help: 'measurement window' },
  stability: {
    type: 'number',
    value: 'PCT',
    default: '10',
    check: (n: number) => (n > 0 ? undefined : 'must be a positive percentage'),
    help: 'three windows in a row within PCT percent end a step',
  },
  'step-cap-ms': { type: 'int', min: 1, help: 'a step ends after this long even if unstable', defaultNote: '10 windows' },
  'timeout-ms': { type: 'int', min: 1, default: '30000', help: 'per-request timeout' },
});

const OUTPUT = flagGroup(
  {
    csv: { type: 'string', value: 'FILE', help: 'write the results as CSV' },
    json: { type: 'string', value: 'FILE', help: 'write the results as JSON' },
    html: { type: 'string', value: 'FILE', help: 'a page with latency-vs-throughput and percentile plots (inline SVG)' },
  },
  'Results:',
);

export const PERF = defineCommand({
  name: 'perf',
  usage: 'URL [options]   (URL: one, comma-separated, or a discovery URL)',
  about: `  Measures a model server: throughput and latency percentiles per load step.
  URL is a GraphPipe endpoint (http://host:port[/model]), an OIP server with --model
  (http://host:port), or OIP gRPC (grpc://host:port, with --model).`,
  groups: [MEASURE, OUTPUT],
  footer: `  Against modelpipe (or any server with the OIP statistics extension) each step also
  shows the server-side split: queue, compute input, compute infer, compute output.`,
});

export const PERF_HELP = helpText(PERF);

export async function perfCommand(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseFlags(argv, PERF);
  if (v.help) {
    console.log(PERF_HELP);
    return;
  }
  const url = positionals[0];
  if (url === undefined || positionals.length > 1) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `perf takes one URL\n\n${PERF_HELP}`);
  for (const flag of ['csv', 'json', 'html'] as const) {
    const p = v[flag];
    if (p !== undefined) needParentDir(p, `--${flag}`);
  }
  const npy = new Map(
    (v.npy ?? []).map((s) => {
      const i = s.indexOf('=');
      return i < 0 ? ['', s] : [s.slice(0, i), s.slice(i + 1)];
    }),
  );
  const rateText = v['request-rate'];
  const presets = v.presets === undefined ? undefined : await loadPresetConfig(v.presets);
  const images = v.images === undefined ? {} : { images: { dir: v.images, preset: resolvePreset(v.preset, presets) } };
  const progress = process.stderr.isTTY === true;
  const report = await runPerf({
    url,
    ...opt('protocol', v.protocol as Protocol | undefined),
    ...opt('model', v.model),
    concurrency: parseRange(v.concurrency, 'concurrency'),
    rates: rateText === undefined ? [] : parseRange(rateText, 'request-rate'),
    arrivals: v.arrivals as 'constant' | 'poisson',
    maxInFlight: Math.min(MAX_CONCURRENCY, v['max-inflight']),
    ...opt('batchSize', v['batch-size']),
    shapes: new Map((v.shape ?? []).map(parseShape)),
    data: v.data as 'random' | 'zero',
    npy,
    ...images,
    ...opt('jsonl', v.jsonl),
    windowMs: v['window-ms'],
    stability: v.stability,
    stepCapMs: v['step-cap-ms'] ?? v['window-ms'] * 10,
    timeoutMs: v['timeout-ms'],
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
  if (v.csv !== undefined) writeFileSync(v.csv, formatCsv(report));
  if (v.json !== undefined) writeFileSync(v.json, formatJson(report));
  if (v.html !== undefined) writeFileSync(v.html, formatHtml(report));
}

function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
