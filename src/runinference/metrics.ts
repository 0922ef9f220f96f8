import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { localEngine } from './local-engine.js';
import type { RunReport, StepStats } from './sink.js';

/**
 * RunInference metrics under Apache Beam's names, so dashboards built for Beam read ours.
 * Labels: `step` (the RunInference step name) and `model_id`.
 * There is no registry of their own: they join the registry of the engine the step's
 * model runs on (its `Metrics`, beside the engine's modelpipe_* series for the same
 * batches), or the one passed in RunInferenceOptions.registry.
 */

/** @deprecated The local engine's registry (`localEngine().metrics.registry`), where steps without an engine of their own report. */
export const runInferenceRegistry: Registry = localEngine().metrics.registry;

export interface InferenceMetrics {
  numInferences: Counter<'step' | 'model_id'>;
  failedBatches: Counter<'step' | 'model_id'>;
  batchLatency: Histogram<'step' | 'model_id'>;
  batchSize: Histogram<'step' | 'model_id'>;
  loadLatency: Gauge<'step' | 'model_id'>;
  modelByteSize: Gauge<'step' | 'model_id'>;
}

// One set of metric objects per registry (prom-client refuses duplicate names).
const perRegistry = new WeakMap<Registry, InferenceMetrics>();

export function metricsFor(registry: Registry = localEngine().metrics.registry): InferenceMetrics {
  let m = perRegistry.get(registry);
  if (m) return m;
  const labelNames = ['step', 'model_id'] as const;
  const registers = [registry];
  m = {
    numInferences: new Counter({ name: 'num_inferences', help: 'Examples run through a model', labelNames, registers }),
    failedBatches: new Counter({ name: 'failed_batches_counter', help: 'Batches whose inference failed', labelNames, registers }),
    batchLatency: new Histogram({
      name: 'inference_batch_latency_micro_secs',
      help: 'Latency of one runBatch call in microseconds',
      labelNames,
      registers,
      buckets: [100, 500, 1000, 5000, 10_000, 50_000, 100_000, 500_000, 1_000_000, 5_000_000],
    }),
    batchSize: new Histogram({
      name: 'inference_request_batch_size',
      help: 'Examples per runBatch call',
      labelNames,
      registers,
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    }),
    loadLatency: new Gauge({ name: 'load_model_latency_milli_secs', help: 'Time of the last model load in ms', labelNames, registers }),
    modelByteSize: new Gauge({ name: 'model_byte_size', help: 'Approximate size of the loaded model in bytes', labelNames, registers }),
  };
  perRegistry.set(registry, m);
  return m;
}

export function newStepStats(step: string): StepStats {
  return {
    step,
    modelIds: [],
    numInferences: 0,
    batches: 0,
    failedBatches: 0,
    failedExamples: 0,
    batchLatencyMicrosTotal: 0,
    batchSizeTotal: 0,
    loadModelMillis: 0,
    modelByteSize: 0,
  };
}

/** The end-of-run table: one row per RunInference step, Beam's metric names as columns. */
export function formatSummary(report: RunReport): string {
  const head = [
    'step',
    'model_id',
    'num_inferences',
    'failed_batches_counter',
    'mean inference_batch_latency_micro_secs',
    'mean inference_request_batch_size',
    'load_model_latency_milli_secs',
    'model_byte_size',
  ];
  const rows = report.steps.map((s) => [
    s.step,
    s.modelIds.join(',') || '-',
    String(s.numInferences),
    String(s.failedBatches),
    s.batches ? String(Math.round(s.batchLatencyMicrosTotal / s.batches)) : '-',
    s.batches ? (s.batchSizeTotal / s.batches).toFixed(1) : '-',
    String(Math.round(s.loadModelMillis)),
    String(s.modelByteSize),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |\n`;
  const sep = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n`;
  const secs = report.durationMs / 1000;
  return (
    `\nRunInference summary: ${report.items} items in ${secs.toFixed(2)} s` +
    ` (${secs > 0 ? (report.items / secs).toFixed(1) : '-'} items/s), ${report.deadLetters} dead letters\n` +
    line(head) +
    sep +
    rows.map(line).join('')
  );
}
