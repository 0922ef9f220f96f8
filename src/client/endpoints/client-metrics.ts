import { Counter, Gauge, type Registry } from 'prom-client';
import { addProcessMetrics } from '../../observe/metrics.js';
import type { Endpoint } from './endpoint.js';

/** What the metrics read of a set: its description and its endpoints now. */
export interface MeteredSet {
  readonly description: string;
  endpoints(): Endpoint[];
}

/** The sets open in this process: only their endpoints are labels, so closed sets and removed endpoints leave /metrics. */
const live = new Set<MeteredSet>();

export function trackSet(s: MeteredSet): void {
  live.add(s);
}

export function untrackSet(s: MeteredSet): void {
  live.delete(s);
}

type Row = { labels: { set: string; endpoint: string }; e: Endpoint };

function rows(): Row[] {
  const out: Row[] = [];
  for (const s of live) for (const e of s.endpoints()) out.push({ labels: { set: s.description, endpoint: e.url }, e });
  return out;
}

/**
 * The per-endpoint client metrics, read from the live sets at scrape time (nothing on
 * the request path): requests, failures by reason, retries, ejections, calls in
 * flight, and whether each endpoint is in rotation.
 */
function install(registry: Registry): void {
  const labelNames = ['set', 'endpoint'] as const;
  // Values are read from the sets at scrape time: reset, then one inc per endpoint
  // (from zero, so inc sets the value for counters and gauges alike).
  const scraped =
    (Kind: typeof Counter | typeof Gauge) =>
    (name: string, help: string, read: (e: Endpoint) => number): void => {
      const collect = function (this: Counter | Gauge): void {
        this.reset();
        for (const r of rows()) this.inc(r.labels, read(r.e));
      };
      if (Kind === Counter) new Counter({ name, help, labelNames, registers: [registry], collect });
      else new Gauge({ name, help, labelNames, registers: [registry], collect });
    };
  const counter = scraped(Counter);
  const gauge = scraped(Gauge);
  counter(
    'modelpipe_client_requests_total',
    'Tries a client sent to each endpoint of its sets (first tries and retries)',
    (e) => e.counts.requests,
  );
  counter('modelpipe_client_retries_total', 'Tries that were retries of a call that failed on another endpoint', (e) => e.counts.retries);
  counter('modelpipe_client_ejections_total', 'Times each endpoint was taken out of rotation', (e) => e.counts.ejections);
  gauge('modelpipe_client_outstanding', 'Calls in flight to each endpoint', (e) => e.outstanding);
  gauge('modelpipe_client_endpoint_up', 'Whether each endpoint is in rotation (1) or ejected (0)', (e) => (e.usable ? 1 : 0));
  new Counter({
    name: 'modelpipe_client_failures_total',
    help: 'Failed tries per endpoint by reason (connect, closed, unavailable, throttled, timeout, cancelled, error)',
    labelNames: [...labelNames, 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of rows()) for (const [reason, n] of r.e.failures) this.inc({ ...r.labels, reason }, n);
    },
  });
}

addProcessMetrics(install);
