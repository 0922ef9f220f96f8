import { setTimeout as sleep } from 'node:timers/promises';
import { type LatencySummary, mergeHistograms, summarize } from './histogram.js';
import { type Load, type Send, startClosedLoop, startOpenLoop } from './load.js';
import { Recorder, type WindowSample } from './recorder.js';
import { type ServerSplit, type StatsReader, type StatsSnapshot, splitBetween } from './server-stats.js';

export type LoadStep = { mode: 'concurrency'; value: number } | { mode: 'rate'; value: number; arrivals: 'constant' | 'poisson' };

export interface MeasureOptions {
  windowMs: number;
  /** Percent: three windows in a row whose throughput and mean latency are all within this of their average. */
  stability: number;
  /** A step ends after this long even if no three windows agreed. */
  stepCapMs: number;
  /** Open loop: the most requests outstanding. */
  maxInFlight: number;
  /** Rows per request. */
  rows: number;
}

export interface StepResult {
  mode: LoadStep['mode'];
  /** Concurrency, or the requested rate in requests/s. */
  value: number;
  arrivals?: 'constant' | 'poisson';
  stable: boolean;
  /** Windows measured; the reported figures merge the last (up to) three. */
  windows: number;
  durationMs: number;
  requests: number;
  throughput: number;
  rowsPerSec: number;
  latencyMs: LatencySummary;
  errors: Record<string, number>;
  server?: ServerSplit;
  /** perf's own CPU time (user + system, all its threads) per answered request over the whole step, µs: is the tool the bottleneck? */
  clientCpuUsPerRequest: number;
}

/** Progress after each window, for a live line on a terminal. */
export type OnWindow = (step: LoadStep, window: number, w: WindowSample) => void;

const throughputOf = (w: WindowSample) => (w.ok * 1000) / Math.max(1e-9, w.endMs - w.startMs);

/** Each value within `pct` percent of the values' average. */
function agree(values: readonly number[], pct: number): boolean {
  const avg = values.reduce((a, b) => a + b, 0) / values.length;
  if (avg === 0) return values.every((v) => v === 0);
  return values.every((v) => Math.abs(v - avg) <= (avg * pct) / 100);
}

function stableWindows(ws: readonly WindowSample[], pct: number): boolean {
  return (
    agree(ws.map(throughputOf), pct) &&
    agree(
      ws.map((w) => (w.ok === 0 ? 0 : w.latency.mean)),
      pct,
    )
  );
}

/**
 * Runs one load step: keeps the load on and cuts measurement windows until three in
 * a row agree (as perf_analyzer does) or the step's time cap passes.
 */
export async function measureStep(
  send: Send,
  step: LoadStep,
  o: MeasureOptions,
  stats: StatsReader,
  onWindow?: OnWindow,
): Promise<StepResult> {
  const rec = new Recorder();
  const cpu0 = process.cpuUsage();
  let answered = 0;
  const load: Load =
    step.mode === 'concurrency'
      ? startClosedLoop(send, step.value, rec)
      : startOpenLoop(send, step.value, step.arrivals, o.maxInFlight, rec);
  // Only the last three windows (and statistics snapshots) are kept: a long step holds no more.
  const windows: WindowSample[] = [];
  let count = 0;
  const snaps: (StatsSnapshot | undefined)[] = [await stats()];
  rec.swap(); // the time spent reading statistics is not a window
  const capAt = performance.now() + o.stepCapMs;
  let stable = false;
  try {
    while (!stable && performance.now() < capAt) {
      await sleep(o.windowMs);
      const w = rec.swap();
      answered += w.ok;
      windows.push(w);
      snaps.push(await stats());
      if (windows.length > 3) windows.shift();
      if (snaps.length > 4) snaps.shift();
      count++;
      onWindow?.(step, count, w);
      stable = windows.length === 3 && stableWindows(windows, o.stability);
    }
  } finally {
    await load.stop();
  }
  const cpu = process.cpuUsage(cpu0);
  const used = windows;
  const durationMs = used.reduce((a, w) => a + (w.endMs - w.startMs), 0);
  const requests = used.reduce((a, w) => a + w.ok, 0);
  const errors: Record<string, number> = {};
  for (const w of used) for (const [k, v] of w.errors) errors[k] = (errors[k] ?? 0) + v;
  const server = splitBetween(snaps[snaps.length - 1 - used.length], snaps[snaps.length - 1]);
  const throughput = (requests * 1000) / Math.max(1e-9, durationMs);
  return {
    mode: step.mode,
    value: step.value,
    ...(step.mode === 'rate' ? { arrivals: step.arrivals } : {}),
    stable,
    windows: count,
    durationMs,
    requests,
    throughput,
    rowsPerSec: throughput * o.rows,
    latencyMs: summarize(mergeHistograms(used.map((w) => w.latency))),
    errors,
    ...(server ? { server } : {}),
    clientCpuUsPerRequest: (cpu.user + cpu.system) / Math.max(1, answered),
  };
}
