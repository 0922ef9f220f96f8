import type { Target } from './target.js';

/**
 * The server-side split of a request's time, from the Open Inference Protocol's
 * statistics extension (modelpipe and Triton have it): cumulative counters read at
 * window boundaries, reported as per-request means of their deltas.
 */
export interface StatsSnapshot {
  count: number;
  queueNs: number;
  inputNs: number;
  inferNs: number;
  outputNs: number;
}

export interface ServerSplit {
  /** Successful inferences the server counted in the interval. */
  requests: number;
  queueMs: number;
  computeInputMs: number;
  computeInferMs: number;
  computeOutputMs: number;
}

export type StatsReader = () => Promise<StatsSnapshot | undefined>;

interface Duration {
  count?: number | string;
  ns?: number | string;
}
interface StatsJson {
  model_stats?: { inference_stats?: Record<string, Duration | undefined> }[];
}

const num = (v: number | string | undefined) => Number(v ?? 0);

function snapshot(j: StatsJson): StatsSnapshot | undefined {
  const s = j.model_stats?.[0]?.inference_stats;
  if (!s?.success) return undefined;
  return {
    count: num(s.success.count),
    queueNs: num(s.queue?.ns),
    inputNs: num(s.compute_input?.ns),
    inferNs: num(s.compute_infer?.ns),
    outputNs: num(s.compute_output?.ns),
  };
}

/**
 * A reader for the target's model, or one that answers undefined when the server has
 * no statistics (checked once: a server without the extension costs one request,
 * never an error). GraphPipe targets ask the same origin's /v2.
 */
export async function statsReader(target: Pick<Target, 'statistics'>): Promise<StatsReader> {
  const read: StatsReader = async () => snapshot((await target.statistics()) as StatsJson);
  const first = await read().catch(() => undefined);
  if (first === undefined) return async () => undefined;
  return () => read().catch(() => undefined);
}

/** Per-request means over the interval between two snapshots; undefined without both or without requests. */
export function splitBetween(a: StatsSnapshot | undefined, b: StatsSnapshot | undefined): ServerSplit | undefined {
  if (!a || !b || b.count <= a.count) return undefined;
  const n = b.count - a.count;
  const ms = (x: number, y: number) => (y - x) / n / 1e6;
  return {
    requests: n,
    queueMs: ms(a.queueNs, b.queueNs),
    computeInputMs: ms(a.inputNs, b.inputNs),
    computeInferMs: ms(a.inferNs, b.inferNs),
    computeOutputMs: ms(a.outputNs, b.outputNs),
  };
}
