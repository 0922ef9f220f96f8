import type { Endpoint } from './endpoint.js';

/**
 * One readiness probe: resolves true (ready) or false (answered, not ready);
 * rejects when the endpoint cannot be reached. `timeoutMs` bounds it.
 */
export type Probe = (url: string, timeoutMs: number) => Promise<boolean>;

export interface HealthOptions {
  /** Between probes of an endpoint in rotation (default 1 s). */
  intervalMs?: number | undefined;
  /** One probe's limit (default 1 s). */
  timeoutMs?: number | undefined;
}

/**
 * Probes each endpoint of a set: every `intervalMs` while in rotation, and when its
 * ejection's back-off ends while ejected, so it returns once it answers ready.
 * At most one probe in flight per endpoint; timers are unref'd (a set never keeps a
 * process alive) and all stop at close().
 */
export class HealthChecker {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly #timers = new Map<Endpoint, NodeJS.Timeout>();
  readonly #probing = new Set<Endpoint>();
  #closed = false;

  constructor(
    private readonly probe: Probe,
    opts: HealthOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.intervalMs = opts.intervalMs ?? 1000;
    this.timeoutMs = opts.timeoutMs ?? 1000;
  }

  /** Starts probing `e`, the first probe at once. */
  watch(e: Endpoint): void {
    this.#schedule(e, 0);
  }

  unwatch(e: Endpoint): void {
    clearTimeout(this.#timers.get(e));
    this.#timers.delete(e);
  }

  /** After a call ejected `e`: probe it when its back-off ends rather than at the next interval. */
  ejected(e: Endpoint): void {
    if (this.#timers.has(e)) this.#schedule(e, e.ejectedUntil - this.now());
  }

  /** Probes `e` soon (a 503 may mean it stopped being ready). */
  soon(e: Endpoint): void {
    if (this.#timers.has(e) && !this.#probing.has(e)) this.#schedule(e, 0);
  }

  /** Probes once, now, and waits for the answer (for `modelpipe endpoints`). */
  async once(e: Endpoint): Promise<void> {
    if (this.#probing.has(e)) return;
    this.#probing.add(e);
    const start = this.now();
    try {
      const ready = await this.probe(e.url, this.timeoutMs);
      e.probeMs = this.now() - start;
      e.probed = ready ? 'ready' : 'not ready';
      if (!ready) e.eject('the readiness probe answered not ready', this.now());
      // A probe begun before a call ejected it must not cut the back-off short.
      else if (this.now() >= e.ejectedUntil) e.readmit();
    } catch (err: unknown) {
      e.probeMs = undefined;
      e.probed = 'unreachable';
      e.eject((err as Error)?.message ?? String(err), this.now());
    } finally {
      this.#probing.delete(e);
    }
  }

  close(): void {
    this.#closed = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }

  #schedule(e: Endpoint, delayMs: number): void {
    if (this.#closed) return;
    clearTimeout(this.#timers.get(e));
    const t = setTimeout(() => void this.#run(e), Math.max(0, delayMs));
    t.unref();
    this.#timers.set(e, t);
  }

  async #run(e: Endpoint): Promise<void> {
    await this.once(e);
    if (!this.#timers.has(e)) return;
    this.#schedule(e, e.health === 'ejected' ? e.ejectedUntil - this.now() : this.intervalMs);
  }
}
