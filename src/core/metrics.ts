import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Every Prometheus metric of a server, in one registry (one per server, so tests can run several). */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'modelpipe_requests_total',
    help: 'Inference requests by model, protocol and outcome (ok or an error code)',
    labelNames: ['model', 'protocol', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'modelpipe_request_duration_seconds',
    help: 'Request latency split into queue, compute and total',
    labelNames: ['model', 'phase'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({
    name: 'modelpipe_inflight_requests',
    help: 'Requests accepted and not yet answered',
    labelNames: ['model'] as const,
    registers: [this.registry],
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
  });
  readonly batchSize = new Histogram({
    name: 'modelpipe_batch_size',
    help: 'Rows per model execution',
    labelNames: ['model'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [this.registry],
  });
  readonly executions = new Counter({
    name: 'modelpipe_model_executions_total',
    help: 'Model executions (a merged batch counts once)',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  readonly cache = new Counter({
    name: 'modelpipe_cache_rows_total',
    help: 'Row cache lookups by result',
    labelNames: ['model', 'result'] as const,
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
