import { ModelpipeError } from '../../errors/index.js';
import { traceEvent } from '../../observe/run-context.js';
import type { TraceContext } from '../../observe/tracing.js';
import { trackSet, untrackSet } from './client-metrics.js';
import { type BalancePolicy, type Balancer, balancer } from './balancer.js';
import type { Discovery, DiscoveryOptions } from './discovery.js';
import { Endpoint } from './endpoint.js';
import { HealthChecker, type HealthOptions, type Probe } from './health.js';
import { type Try, noEndpointsError } from './no-endpoints.js';
import { outcomeOf } from './outcome.js';
import { RetryBudget, type RetryBudgetOptions } from './retry-budget.js';
import { discoveryFor } from './schemes.js';

export interface EndpointSetOptions {
  /** Least outstanding by two random choices (default), or each in turn. */
  balance?: BalancePolicy | undefined;
  /** Readiness probe; without one, endpoints leave rotation only through failed calls. */
  probe?: Probe | undefined;
  health?: HealthOptions | undefined;
  retryBudget?: RetryBudgetOptions | undefined;
  discovery?: DiscoveryOptions | undefined;
  /** Told when discovery drops an endpoint (after which it takes no new calls), to release what was kept for it. */
  onRemoved?: ((url: string) => void) | undefined;
  /** For tests: the random source of the two choices. */
  random?: (() => number) | undefined;
}

/**
 * One call's limits: `deadline` in ms since the epoch, or `timeoutMs` from now (the
 * first try gets exactly that, as a single endpoint's call would).
 */
export interface CallLimits {
  deadline?: number | undefined;
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** The trace the call continues: each retry is an event on its span. */
  trace?: TraceContext | undefined;
}

/** One try: the endpoint's URL and the ms left until the deadline. */
export type TryFn<T> = (url: string, remainingMs: number) => Promise<T>;

/** A retry, as an event on the span of the call's trace: where it goes, and why the last try failed. */
function retryEvent(url: string, tries: readonly Try[], trace: TraceContext | undefined): void {
  const last = tries[tries.length - 1];
  const err = last?.error as { code?: unknown; message?: unknown } | undefined;
  traceEvent(
    'modelpipe.retry',
    {
      'modelpipe.endpoint': url,
      'modelpipe.try': tries.length + 1,
      'modelpipe.failed_endpoint': last?.url ?? '',
      'modelpipe.failed_code': typeof err?.code === 'string' ? err.code : String(err?.message ?? 'error'),
    },
    trace,
  );
}

/** A request that cost this many endpoints their connection is not tried on another. */
const MAX_CONNECTION_KILLS = 2;

/**
 * A set of endpoints serving the same models, fed by a discovery (a list, DNS,
 * a registry). call() picks one (see balancer.ts), and on a failure the rules of
 * outcome.ts allow, tries another, within the deadline and the retry budget.
 * New endpoints join as discovery reports them; removed ones take no new calls
 * while their calls in flight finish. close() stops probes and discovery.
 */
export class EndpointSet {
  readonly description: string;
  readonly budget: RetryBudget;
  readonly #discovery: Discovery;
  readonly #byUrl = new Map<string, Endpoint>();
  readonly #pick: Balancer;
  readonly #health: HealthChecker | undefined;
  readonly #onRemoved: ((url: string) => void) | undefined;
  #started: Promise<void> | undefined;
  #unsubscribe: (() => void) | undefined;
  #closed = false;

  constructor(target: string | Discovery, opts: EndpointSetOptions = {}) {
    this.#discovery = typeof target === 'string' ? discoveryFor(target, opts.discovery) : target;
    this.description = this.#discovery.description;
    this.#pick = balancer(opts.balance ?? 'p2c', opts.random);
    if (opts.balance !== undefined && opts.balance !== 'p2c' && opts.balance !== 'round-robin')
      throw new ModelpipeError('MP_ERR_BAD_CONFIG', `balance must be p2c or round-robin, got ${String(opts.balance)}`);
    this.budget = new RetryBudget(opts.retryBudget);
    this.#health = opts.probe ? new HealthChecker(opts.probe, opts.health) : undefined;
    this.#onRemoved = opts.onRemoved;
    trackSet(this);
  }

  /** Resolves once discovery has answered and the endpoints are in (MP_ERR_DISCOVERY when it cannot). */
  ready(): Promise<void> {
    this.#started ??= this.#discovery.ready().then(() => {
      if (this.#closed) return;
      this.#apply(this.#discovery.current());
      this.#unsubscribe = this.#discovery.subscribe((urls) => this.#apply(urls));
    });
    return this.#started;
  }

  /** The endpoints in the set now, in discovery's order. */
  endpoints(): Endpoint[] {
    return [...this.#byUrl.values()];
  }

  /** Probes every endpoint once and waits for the answers (without a probe: nothing to do). */
  async probeAll(): Promise<void> {
    await this.ready();
    const h = this.#health;
    if (h) await Promise.all(this.endpoints().map((e) => h.once(e)));
  }

  /** Runs `fn` on one endpoint, failing over to others as the rules allow (see outcome.ts). */
  async call<T>(fn: TryFn<T>, limits: CallLimits = {}): Promise<T> {
    if (this.#closed) throw new ModelpipeError('MP_ERR_CLIENT_CLOSED', `${this.description}: the endpoint set is closed`);
    await this.ready();
    const deadline = limits.deadline ?? (limits.timeoutMs !== undefined ? Date.now() + limits.timeoutMs : Number.POSITIVE_INFINITY);
    const tries: Try[] = [];
    let kills = 0;
    this.budget.request();
    for (;;) {
      const e = this.#choose(tries);
      if (!e) throw this.#failed(tries, tries.length === 0 ? 'none known' : 'no other endpoint left');
      if (tries.length > 0) {
        if (!this.budget.tryRetry()) throw this.#failed(tries, 'retry budget spent');
        e.counts.retries++;
        retryEvent(e.url, tries, limits.trace);
      }
      e.outstanding++;
      e.counts.requests++;
      try {
        return await fn(e.url, tries.length === 0 && limits.timeoutMs !== undefined ? limits.timeoutMs : deadline - Date.now());
      } catch (err: unknown) {
        tries.push({ url: e.url, error: err });
        const o = outcomeOf(err);
        e.failed(o.reason, (err as Error)?.message ?? String(err));
        if (o.eject) {
          e.eject((err as Error)?.message ?? String(err), Date.now(), o.backoffMs);
          this.#health?.ejected(e);
        } else if (o.reason === 'unavailable') this.#health?.soon(e);
        if (o.killedConnection) kills++;
        if (!o.retry) throw tries.length === 1 ? err : this.#failed(tries, 'the last error is not one to retry');
        if (kills >= MAX_CONNECTION_KILLS) throw this.#failed(tries, `the request cost ${kills} endpoints their connection`);
        if (Date.now() >= deadline) throw this.#failed(tries, 'the deadline passed');
        if (limits.signal?.aborted) throw this.#failed(tries, 'the call was cancelled');
      } finally {
        e.outstanding--;
      }
    }
  }

  /** Stops probing and watching discovery; calls in flight finish. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    untrackSet(this);
    this.#unsubscribe?.();
    this.#health?.close();
    await this.#discovery.close();
  }

  /** An endpoint not tried yet by this call: among those in rotation, else (all out) among the ejected. */
  #choose(tries: readonly Try[]): Endpoint | undefined {
    const fresh = this.endpoints().filter((e) => !e.removed && !tries.some((t) => t.url === e.url));
    const ready = fresh.filter((e) => e.usable);
    // Every endpoint out: better a try on one whose back-off may be stale than a certain failure.
    const pool = ready.length > 0 ? ready : fresh;
    return pool.length > 0 ? this.#pick(pool) : undefined;
  }

  /** One try only: its own error, code and status kept; more: every endpoint and what it did. */
  #failed(tries: readonly Try[], stopped: string): unknown {
    if (tries.length === 1) return tries[0]?.error;
    return noEndpointsError(this.description, tries, stopped);
  }

  #apply(urls: readonly string[]): void {
    if (this.#closed) return;
    const keep = new Set(urls);
    for (const [url, e] of this.#byUrl) {
      if (keep.has(url)) continue;
      e.removed = true;
      this.#byUrl.delete(url);
      this.#health?.unwatch(e);
      this.#onRemoved?.(url);
    }
    for (const url of urls) {
      if (this.#byUrl.has(url)) continue;
      const e = new Endpoint(url);
      this.#byUrl.set(url, e);
      this.#health?.watch(e);
    }
  }
}
