/** What the set knows of an endpoint's health. */
export type EndpointHealth = 'unknown' | 'ready' | 'ejected';

/** Why a call to an endpoint failed, as counted per endpoint. */
export type FailureReason = 'connect' | 'closed' | 'unavailable' | 'throttled' | 'timeout' | 'cancelled' | 'error';

/** Back-off after an ejection: doubles per failure in a row from the first, capped (so a restarted replica is back within seconds). */
export const FIRST_BACKOFF_MS = 100;
export const MAX_BACKOFF_MS = 2000;

/**
 * One endpoint of a set and everything the set tracks about it: calls in flight,
 * health, when an ejection ends, the last error, and counters for metrics and
 * `modelpipe endpoints`. Mutated only by the set, its health checker and its calls.
 */
export class Endpoint {
  outstanding = 0;
  health: EndpointHealth = 'unknown';
  /** While ejected: when the next probe may readmit it (ms since the epoch). */
  ejectedUntil = 0;
  /** Ejections since it was last ready: the back-off's exponent. */
  strikes = 0;
  lastError: string | undefined;
  /** Round trip of the last probe that answered, in ms. */
  probeMs: number | undefined;
  /** What the last probe found (undefined before the first). */
  probed: 'ready' | 'not ready' | 'unreachable' | undefined;
  /** Gone from discovery: no new calls; its calls in flight finish. */
  removed = false;
  readonly counts = { requests: 0, retries: 0, ejections: 0 };
  readonly failures = new Map<FailureReason, number>();

  constructor(readonly url: string) {}

  get usable(): boolean {
    return !this.removed && this.health !== 'ejected';
  }

  /** Takes it out of rotation for the back-off (at least `minMs`, a 429's Retry-After). */
  eject(why: string, now: number, minMs = 0): void {
    const backoff = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** this.strikes);
    this.strikes++;
    this.lastError = why;
    this.ejectedUntil = Math.max(this.ejectedUntil, now + Math.max(backoff, minMs));
    if (this.health !== 'ejected') this.counts.ejections++;
    this.health = 'ejected';
  }

  /** A probe said ready. */
  readmit(): void {
    this.health = 'ready';
    this.strikes = 0;
    this.ejectedUntil = 0;
  }

  failed(reason: FailureReason, why: string): void {
    this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
    this.lastError = why;
  }
}
