import type { ModelpipeError } from '../errors/index.js';
import { type Histogram, newHistogram, recordMs } from './histogram.js';

/** What one measurement window saw: successes' latencies and failures by code. */
export interface WindowSample {
  startMs: number;
  endMs: number;
  ok: number;
  errors: Map<string, number>;
  latency: Histogram;
}

/**
 * Collects completions into the current window; `swap()` closes it and opens the
 * next. A request belongs to the window in which it completes.
 */
export class Recorder {
  private cur: WindowSample;

  constructor() {
    this.cur = fresh(performance.now());
  }

  /** A success sent (or meant to be sent) at `fromMs`, answered now. */
  ok(fromMs: number): void {
    this.cur.ok++;
    recordMs(this.cur.latency, performance.now() - fromMs);
  }

  fail(err: unknown): void {
    const code = errorCode(err);
    this.cur.errors.set(code, (this.cur.errors.get(code) ?? 0) + 1);
  }

  swap(): WindowSample {
    const now = performance.now();
    const done = this.cur;
    done.endMs = now;
    this.cur = fresh(now);
    return done;
  }
}

function fresh(now: number): WindowSample {
  return { startMs: now, endMs: now, ok: 0, errors: new Map(), latency: newHistogram() };
}

/** The stable code of a client error (RemoteError carries the server's), else its name. */
export function errorCode(err: unknown): string {
  const code: unknown = (err as Partial<ModelpipeError>)?.code;
  if (typeof code === 'string' && code.length > 0) return code;
  return err instanceof Error ? err.name : 'UNKNOWN';
}
