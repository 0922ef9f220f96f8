import { ModelpipeError } from '../errors/index.js';
import type { Preset } from '../vision/presets.js';
import { type InputChoice, type InputSpec, buildInputs } from './inputs.js';
import type { Send } from './load.js';
import { type LoadStep, type MeasureOptions, type OnWindow, measureStep } from './measure.js';
import { type RealDataLimits, type RequestSet, imageRequests, jsonlRequests } from './real-data.js';
import type { PerfReport } from './report.js';
import { statsReader } from './server-stats.js';
import type { HttpClientKind } from './http-load.js';
import { type Protocol, connectTarget } from './target.js';

export interface PerfOptions extends InputChoice {
  url: string;
  protocol?: Protocol;
  model?: string;
  /** Closed-loop concurrencies; used when `rates` is empty. */
  concurrency: number[];
  /** Open-loop request rates (requests/s). */
  rates: number[];
  arrivals: 'constant' | 'poisson';
  windowMs: number;
  stability: number;
  stepCapMs: number;
  maxInFlight: number;
  timeoutMs: number;
  /** HTTP loads: perf's own sockets (default) or undici. */
  httpClient?: HttpClientKind;
  onWindow?: OnWindow;
  /** Real data instead of generated values: a folder of images through a preset (one-input models). */
  images?: { dir: string; preset: Preset };
  /** Real data: one request per line of a JSONL file. */
  jsonl?: string;
  /** Bounds on the real data held (default REAL_DATA_LIMITS). */
  realDataLimits?: RealDataLimits;
}

/** Bounds that keep one run from holding unbounded sockets or memory. */
export const MAX_CONCURRENCY = 1024;

/** Connects, builds the request from the model's metadata (or .npy files) and measures every step in order. */
export async function runPerf(o: PerfOptions): Promise<PerfReport> {
  const steps: LoadStep[] =
    o.rates.length > 0
      ? o.rates.map((value) => ({ mode: 'rate', value, arrivals: o.arrivals }))
      : o.concurrency.map((value) => ({ mode: 'concurrency', value: Math.round(value) }));
  if (steps.length === 0) throw new ModelpipeError('MP_ERR_BAD_CONFIG', 'no load steps: give --concurrency or --request-rate');
  const peak = o.rates.length > 0 ? o.maxInFlight : Math.max(...steps.map((s) => s.value));
  if (peak > MAX_CONCURRENCY || peak < 1) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `requests in flight must be from 1 to ${MAX_CONCURRENCY}, got ${peak}`);
  }
  const target = await connectTarget(o.url, {
    ...(o.protocol ? { protocol: o.protocol } : {}),
    ...(o.model !== undefined ? { model: o.model } : {}),
    connections: peak,
    timeoutMs: o.timeoutMs,
    ...(o.httpClient ? { httpClient: o.httpClient } : {}),
  });
  try {
    const { requests, rows } = await requestSet(target.inputs, o);
    const send = cycle(requests.map((r) => target.sender(r)));
    // One request first: a wrong shape or model fails here with the server's message, not as a table of errors.
    await send(AbortSignal.timeout(o.timeoutMs));
    const stats = await statsReader(target);
    const m: MeasureOptions = { windowMs: o.windowMs, stability: o.stability, stepCapMs: o.stepCapMs, maxInFlight: o.maxInFlight, rows };
    const report: PerfReport = {
      url: o.url,
      protocol: target.protocol,
      model: target.model,
      rowsPerRequest: rows,
      windowMs: o.windowMs,
      stability: o.stability,
      startedAt: new Date().toISOString(),
      steps: [],
    };
    for (const step of steps) report.steps.push(await measureStep(send, step, m, stats, o.onWindow));
    return report;
  } finally {
    await target.close();
  }
}

/** The requests to send: real data when given, else the one request from metadata or .npy. */
async function requestSet(specs: readonly InputSpec[], o: PerfOptions): Promise<RequestSet> {
  const given = [o.images && '--images', o.jsonl !== undefined && '--jsonl', (o.npy?.size ?? 0) > 0 && '--npy'].filter(Boolean);
  if (given.length > 1) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${given.join(' and ')} are alternatives: give one`);
  if (o.jsonl !== undefined) {
    if (o.batchSize !== undefined) throw new ModelpipeError('MP_ERR_BAD_CONFIG', '--jsonl lines carry their own rows: drop --batch-size');
    return jsonlRequests(o.jsonl, specs, o.realDataLimits);
  }
  if (o.images) {
    const spec = specs[0];
    if (specs.length !== 1 || spec === undefined) {
      throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--images needs a one-input model; this one has ${specs.length} inputs`);
    }
    return imageRequests(o.images.dir, o.images.preset, spec, o.batchSize ?? 1, o.realDataLimits);
  }
  const { tensors, rows } = buildInputs(specs, o);
  return { requests: [tensors], rows };
}

/** One sender that takes the requests in turn, so the load cycles through the data. */
function cycle(sends: readonly Send[]): Send {
  if (sends.length === 1) return sends[0] as Send;
  let next = 0;
  return (signal) => {
    const s = sends[next] as Send;
    next = next + 1 === sends.length ? 0 : next + 1;
    return s(signal);
  };
}
