import type { HrTime, TimeInput } from '@opentelemetry/api';

/*
 * Span times as modelpipe keeps them: epoch milliseconds as a double (sub-µs
 * resolution), from performance.now() readings or the API's TimeInput, and split into
 * whole seconds and nanoseconds as both OTLP encodings write them.
 */

const origin = performance.timeOrigin;

/** Epoch milliseconds now (sub-µs resolution). */
export function nowMs(): number {
  return origin + performance.now();
}

/** A performance.now() reading as epoch ms. */
export function perfMs(t: number): number {
  return origin + t;
}

/**
 * Below this a number is a performance.now() reading, above it epoch ms: the SDK's
 * Span compares with performance.now() instead, a clock read per explicit time; the
 * two rules differ only for a process up for more than three years or a time before 1973.
 */
const PERF_BELOW = 1e11;

/**
 * A TimeInput as epoch ms. As in the SDK's Span, a performance.now() reading (the
 * scheduler's enqueue times are) or epoch ms.
 */
export function epochMs(t: TimeInput | undefined): number {
  if (t === undefined) return nowMs();
  if (typeof t === 'number') return t < PERF_BELOW ? origin + t : t;
  if (t instanceof Date) return t.getTime();
  const hr = t as HrTime;
  return hr[0] * 1e3 + hr[1] / 1e6;
}

/** Epoch ms as whole seconds and nanoseconds (how both OTLP encodings write a time). */
export function secondsAndNanos(ms: number): [number, number] {
  const secs = Math.floor(ms / 1000);
  return [secs, nanosWithin(ms, secs)];
}

/** The nanoseconds of epoch `ms` past its whole second `secs` (Math.floor(ms / 1000)). */
export function nanosWithin(ms: number, secs: number): number {
  return Math.min(Math.round((ms - secs * 1000) * 1e6), 999_999_999);
}
