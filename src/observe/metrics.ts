import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { FastCounter, FastHistogram } from './fast-metrics.js';

/**
 * Metrics of the process rather than of one server (the client's endpoint sets, which
 * remote models, hops and the batcher use): installed into every server's registry,
 * those made before and after, so each /metrics shows them.
 */
type ProcessMetrics = (registry: Registry) => void;
const processMetrics: ProcessMetrics[] = [];
const serverRegistries = new Set<WeakRef<Registry>>();

export function addProcessMetrics(install: ProcessMetrics): void {
  processMetrics.push(install);
  for (const ref of serverRegistries) {
    const r = ref.deref();
    if (r) install(r);
    else serverRegistries.delete(ref);
  }
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Every Prometheus metric of a server, in one registry (one per server, so tests can run several). */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new FastCounter(
    'modelpipe_requests_total',
    'Inference requests by model, protocol and outcome (ok or an error code)',
    ['model', 'protocol', 'outcome'],
    this.registry,
  );
  readonly latency = new FastHistogram(
    'modelpipe_request_duration_seconds',
    'Request latency split into phases: queue, compute_input (merging a batch), compute (the model run), compute_output (splitting it), total',
    ['model', 'phase'],
    LATENCY_BUCKETS,
    this.registry,
  );
  /** Per-model sources of the two gauges below, read when /metrics is scraped (not set per request). */
  private readonly inFlightOf = new Map<string, () => number>();
  private readonly depthOf = new Map<string, () => number>();
  private readonly stuckOf = new Map<string, () => number>();
  readonly inFlight = new Gauge({
    name: 'modelpipe_inflight_requests',
    help: 'Requests accepted and not yet answered',
    labelNames: ['model'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [model, f] of this.inFlightOf) this.inFlight.set({ model }, f());
    },
  });
  readonly loadTime = new Gauge({
    name: 'modelpipe_model_load_seconds',
    help: 'Time taken to load each model',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'modelpipe_queue_depth',
    help: 'Requests waiting in the model queue',
    labelNames: ['model'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [model, f] of this.depthOf) this.queueDepth.set({ model }, f());
    },
  });
  readonly stuckRuns = new Gauge({
    name: 'modelpipe_stuck_runs',
    help: 'Model runs that outlived their timeout and have not settled (their requests got MP_ERR_TIMEOUT)',
    labelNames: ['model'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [model, f] of this.stuckOf) this.stuckRuns.set({ model }, f());
    },
  });
  readonly batchSize = new FastHistogram(
    'modelpipe_batch_size',
    'Rows per model execution',
    ['model'],
    [1, 2, 4, 8, 16, 32, 64, 128],
    this.registry,
  );
  readonly executions = new FastCounter(
    'modelpipe_model_executions_total',
    'Model executions (a merged batch counts once)',
    ['model'],
    this.registry,
  );
  readonly cache = new FastCounter('modelpipe_cache_rows_total', 'Row cache lookups by result', ['model', 'result'], this.registry);

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    for (const install of processMetrics) install(this.registry);
    serverRegistries.add(new WeakRef(this.registry));
  }

  /** Reports a model's in-flight count, queue depth and stuck runs from now on (read at scrape time). */
  watch(model: string, sources: { inFlight?: () => number; depth?: () => number; stuck?: () => number }): void {
    if (sources.inFlight) this.inFlightOf.set(model, sources.inFlight);
    if (sources.depth) this.depthOf.set(model, sources.depth);
    if (sources.stuck) this.stuckOf.set(model, sources.stuck);
  }

  /** Stops reporting a removed model's gauges. */
  unwatch(model: string): void {
    if (this.inFlightOf.delete(model)) this.inFlight.remove({ model });
    if (this.depthOf.delete(model)) this.queueDepth.remove({ model });
    if (this.stuckOf.delete(model)) this.stuckRuns.remove({ model });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
