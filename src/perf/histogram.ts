import hdr from 'hdr-histogram-js';

/**
 * Latencies in an HdrHistogram (3 significant digits, microsecond resolution, up
 * to one hour): constant memory and exact-enough percentiles whatever the count,
 * and windows merge by adding histograms.
 */
const HIGHEST_US = 3_600_000_000;

export type Histogram = hdr.Histogram;

export function newHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3, autoResize: false });
}

export function recordMs(h: Histogram, ms: number): void {
  h.recordValue(Math.min(HIGHEST_US, Math.max(1, Math.round(ms * 1000))));
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Percentiles in milliseconds; all 0 when nothing was recorded. */
export function summarize(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { p50: 0, p90: 0, p95: 0, p99: 0, max: 0, mean: 0 };
  const max = h.maxValue;
  // A percentile is its bucket's highest equivalent value, which may pass the exact max by < 0.1 %.
  const at = (p: number) => Math.min(h.getValueAtPercentile(p), max) / 1000;
  return {
    p50: at(50),
    p90: at(90),
    p95: at(95),
    p99: at(99),
    max: max / 1000,
    mean: h.mean / 1000,
  };
}

export function mergeHistograms(hs: readonly Histogram[]): Histogram {
  const out = newHistogram();
  for (const h of hs) out.add(h);
  return out;
}
