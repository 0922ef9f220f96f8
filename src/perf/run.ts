import { ModelpipeError } from '../errors/index.js';
import { type InputChoice, buildInputs } from './inputs.js';
import { type LoadStep, type MeasureOptions, type OnWindow, measureStep } from './measure.js';
import type { PerfReport } from './report.js';
import { statsReader } from './server-stats.js';
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
  onWindow?: OnWindow;
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
  });
  try {
    const { tensors, rows } = buildInputs(target.inputs, o);
    const send = target.sender(tensors);
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
