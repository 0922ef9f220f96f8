import type { Registry } from 'prom-client';
import { ModelpipeError } from '../errors/index.js';
import type { Logger } from '../observe/logger.js';
import { batchStream } from '../scheduling/stream-batcher.js';
import { batchSignature } from '../tensor/index.js';
import { type DeadLetter, type ModelHandler, type PredictionResult, type ProcessedHandler, planOf } from './handler.js';
import { type KeyedModelHandler, isKeyedModelHandler } from './keyed-handler.js';
import { stderrLogger } from './local-engine.js';
import { type InferenceMetrics, metricsFor, newStepStats } from './metrics.js';
import { orderedMap } from './ordered.js';
import type { PipelineContext, Sink, StepStats } from './sink.js';
import { StepFailures } from './step-failures.js';
import { endRecord, traceOfRecord } from './record-trace.js';
import { batchTrace } from '../scheduling/batch-trace.js';
import type { RequestTrace } from '../observe/tracing.js';

export interface RunInferenceOptions {
  /** Step name (metrics label, summary row). Default "RunInference", numbered if repeated. */
  name?: string;
  minBatchSize?: number;
  maxBatchSize?: number;
  maxWaitMs?: number;
  maxBatchWeight?: number;
  /** Batches run at once (e.g. the ONNX handler's worker count). Default: handler's, else 1. */
  concurrency?: number;
  /** Examples preprocessed at once (async preprocessing such as image decoding). Default 4. */
  preprocessConcurrency?: number;
  /** Where failed examples go. Default: a warning log line per failure (first 20). */
  deadLetter?: Sink<DeadLetter> | ((d: DeadLetter) => void | Promise<void>);
  /** Abort when failed/seen examples exceeds this (after minExamplesForRatio). Default: never. */
  maxFailureRatio?: number;
  /** Examples to see before the ratio is judged. Default 100. */
  minExamplesForRatio?: number;
  /** Where the Beam-named metrics go. Default: the registry of the handler's engine (see metrics.ts). */
  registry?: Registry;
  /** Where dead letters are logged when no deadLetter target is given. Default: stderr. */
  logger?: Logger;
}

interface Item {
  key: unknown;
  raw: unknown;
  x: unknown;
  plan: ProcessedHandler<unknown, unknown>;
  idx: number;
  /** The record's trace (record-trace.ts) and when it joined the batcher, for its queue span. */
  trace: RequestTrace | undefined;
  enqueuedAt: number;
}

export function runInferenceStream<E, P>(
  src: AsyncIterable<E>,
  handler: ModelHandler<E, P>,
  options: RunInferenceOptions,
  ctx: PipelineContext,
): AsyncGenerator<PredictionResult<E, P>> {
  const items = (async function* () {
    for await (const raw of src) yield [undefined, raw] as [unknown, unknown];
  })();
  return runStages(items, handler as ModelHandler<unknown, unknown>, options, ctx, stepStats(options, ctx), false) as AsyncGenerator<
    PredictionResult<E, P>
  >;
}

export function runInferenceKeyedStream<K, E, P>(
  src: AsyncIterable<[K, E]>,
  handler: ModelHandler<E, P> | KeyedModelHandler<K, E, P>,
  options: RunInferenceOptions,
  ctx: PipelineContext,
): AsyncGenerator<[K, PredictionResult<E, P>]> {
  const items = (async function* () {
    for await (const pair of src) {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw new ModelpipeError('MP_ERR_PIPELINE', 'runInferenceKeyed expects [key, example] pairs');
      }
      yield pair as [unknown, unknown];
    }
  })();
  return runStages(items, handler as ModelHandler<unknown, unknown>, options, ctx, stepStats(options, ctx), true) as AsyncGenerator<
    [K, PredictionResult<E, P>]
  >;
}

/** Registers the step when the flow is built, so the summary lists steps in pipeline order. */
function stepStats(options: RunInferenceOptions, ctx: PipelineContext): StepStats {
  const sameName = ctx.steps.filter((s) => s.step.startsWith(options.name ?? 'RunInference')).length;
  const stats = newStepStats((options.name ?? 'RunInference') + (sameName > 0 ? `#${sameName + 1}` : ''));
  ctx.steps.push(stats);
  return stats;
}

/** What every stage of one RunInference step shares. */
interface Step {
  multi: KeyedModelHandler<unknown, unknown, unknown> | undefined;
  single: ProcessedHandler<unknown, unknown> | undefined;
  options: RunInferenceOptions;
  stats: StepStats;
  metrics: InferenceMetrics;
  failures: StepFailures;
  keyed: boolean;
}

/**
 * One RunInference step as three pull-based stages: pick the model and preprocess per
 * example, form batches of one model and one shape signature (the shared pulled-stream
 * batcher), and run them (bounded concurrency, order kept), postprocessing per example.
 */
async function* runStages(
  src: AsyncIterable<[unknown, unknown]>,
  handler: ModelHandler<unknown, unknown> | KeyedModelHandler<unknown, unknown, unknown>,
  options: RunInferenceOptions,
  ctx: PipelineContext,
  stats: StepStats,
  keyed: boolean,
): AsyncGenerator<unknown> {
  const multi = isKeyedModelHandler(handler) ? handler : undefined;
  const single = multi ? undefined : planOf(handler as ModelHandler<unknown, unknown>);
  const log = options.logger ?? stderrLogger('runinference');
  const ratio = { max: options.maxFailureRatio, minSeen: options.minExamplesForRatio ?? 100 };
  const failures = new StepFailures(options.deadLetter, ctx, stats, keyed, log, ratio);
  // Beam's metrics join the registry of the engine the model runs on, unless one is given.
  const metrics = metricsFor(options.registry ?? single?.inner.engine?.metrics.registry);
  const step: Step = { multi, single, options, stats, metrics, failures, keyed };
  const batches = batchStream(prepare(src, step), {
    ...pick(multi ? multi.batching : single?.batching, options),
    signature: (it) => `${it.idx}|${it.plan.inner.signature ? it.plan.inner.signature(it.x) : batchSignature(it.x)}`,
    weight: (it) => (it.plan.inner.weight ? it.plan.inner.weight(it.x) : 1),
  });
  const concurrency = options.concurrency ?? (multi ? 1 : single?.inner.concurrency) ?? 1;
  for await (const r of orderedMap(batches, concurrency, (batch: Item[]) => runOne(batch, step))) {
    await failures.settle(r.out.length, r.dead);
    yield* r.out;
  }
}

/** Stage 1: picks each example's model and preprocesses it (bounded concurrency, order kept). */
async function* prepare(src: AsyncIterable<[unknown, unknown]>, step: Step): AsyncGenerator<Item> {
  const { multi, single, failures } = step;
  // Fast path: nothing to do per example, so no per-example promises either.
  if (!multi && (single as ProcessedHandler<unknown, unknown>).pre.length === 0) {
    const plan = single as ProcessedHandler<unknown, unknown>;
    for await (const [key, raw] of src) yield item(key, raw, raw, plan, 0);
    return;
  }
  const prepared = orderedMap(src, step.options.preprocessConcurrency ?? 4, async ([key, raw]): Promise<Item | DeadLetter> => {
    let plan = single as ProcessedHandler<unknown, unknown>;
    let idx = 0;
    if (multi) {
      try {
        idx = multi.indexFor(key);
      } catch (e) {
        return failures.letter({ key, raw }, 'preprocess', e, 'MP_ERR_UNKNOWN_MODEL');
      }
      plan = multi.planAt(idx);
    }
    let x: unknown = raw;
    try {
      for (const f of plan.pre) x = await f(x);
    } catch (e) {
      return failures.letter({ key, raw }, 'preprocess', e, 'MP_ERR_PREPROCESS');
    }
    return item(key, raw, x, plan, idx);
  });
  for await (const r of prepared) {
    if ('plan' in r) yield r;
    else await failures.settle(0, [r]);
  }
}

function item(key: unknown, raw: unknown, x: unknown, plan: ProcessedHandler<unknown, unknown>, idx: number): Item {
  const trace = traceOfRecord(raw);
  return { key, raw, x, plan, idx, trace, enqueuedAt: trace === undefined ? 0 : performance.now() };
}

/** Stage 3 for one batch: loads the model if needed, runs it, postprocesses, routes failures. */
async function runOne(batch: Item[], step: Step): Promise<{ out: unknown[]; dead: DeadLetter[] }> {
  const first = batch[0] as Item;
  const core = first.plan.inner;
  const { stats, metrics, failures } = step;
  if (step.multi) await step.multi.acquire(first.idx);
  try {
    if (!core.isLoaded()) await loadFor(core, step);
    if (stats.modelByteSize === 0) stats.modelByteSize = core.byteSize(); // loaded earlier in this process
    const t0 = performance.now();
    // A span per batch, linked to its records' spans; remote handlers' calls carry it.
    const bt = batchTrace(batch, batch.length, 1, t0);
    let res: { predictions: unknown[]; modelId: string };
    try {
      const xs = batch.map((it) => it.x);
      res = await (bt ? bt.run(() => core.runBatch(xs), true) : core.runBatch(xs));
      if (res.predictions.length !== batch.length) {
        throw new ModelpipeError(
          'MP_ERR_MODEL_OUTPUT',
          `${core.modelId}: ${res.predictions.length} predictions for ${batch.length} examples`,
        );
      }
      bt?.end();
    } catch (e) {
      bt?.end(e);
      for (const it of batch) endRecord(it.trace, e);
      stats.failedBatches++;
      metrics.failedBatches.inc({ step: stats.step, model_id: core.modelId });
      return { out: [], dead: batch.map((it) => failures.letter(it, 'inference', e, 'MP_ERR_BATCH_FAILED', core.modelId)) };
    }
    record(step, res.modelId, batch.length, (performance.now() - t0) * 1000);
    return await postprocess(batch, res, step);
  } finally {
    if (step.multi) step.multi.release(first.idx);
  }
}

async function loadFor(core: ModelHandler<unknown, unknown>, { stats, metrics }: Step): Promise<void> {
  const t0 = performance.now();
  await core.load();
  const ms = performance.now() - t0;
  stats.loadModelMillis += ms;
  stats.modelByteSize = core.byteSize();
  metrics.loadLatency.set({ step: stats.step, model_id: core.modelId }, ms);
  metrics.modelByteSize.set({ step: stats.step, model_id: core.modelId }, core.byteSize());
}

/** One successful batch in the Beam metrics and the step's summary row. */
function record({ stats, metrics }: Step, modelId: string, size: number, micros: number): void {
  const labels = { step: stats.step, model_id: modelId };
  metrics.numInferences.inc(labels, size);
  metrics.batchLatency.observe(labels, micros);
  metrics.batchSize.observe(labels, size);
  stats.batches++;
  stats.numInferences += size;
  stats.batchLatencyMicrosTotal += micros;
  stats.batchSizeTotal += size;
  if (!stats.modelIds.includes(modelId)) stats.modelIds.push(modelId);
}

async function postprocess(batch: Item[], res: { predictions: unknown[]; modelId: string }, step: Step) {
  const out: unknown[] = [];
  const dead: DeadLetter[] = [];
  for (let i = 0; i < batch.length; i++) {
    const it = batch[i] as Item;
    let p = res.predictions[i];
    try {
      for (const f of it.plan.post) p = await f(p, it.raw);
    } catch (e) {
      endRecord(it.trace, e);
      dead.push(step.failures.letter(it, 'postprocess', e, 'MP_ERR_POSTPROCESS', res.modelId));
      continue;
    }
    endRecord(it.trace);
    const pr: PredictionResult<unknown, unknown> = { example: it.raw, inference: p, modelId: res.modelId };
    out.push(step.keyed ? [it.key, pr] : pr);
  }
  return { out, dead };
}

function pick(hints: ModelHandler<unknown, unknown>['batching'], o: RunInferenceOptions) {
  const v = (k: 'minBatchSize' | 'maxBatchSize' | 'maxWaitMs' | 'maxBatchWeight') => o[k] ?? hints?.[k];
  const out: { minBatchSize?: number; maxBatchSize?: number; maxWaitMs?: number; maxBatchWeight?: number } = {};
  for (const k of ['minBatchSize', 'maxBatchSize', 'maxWaitMs', 'maxBatchWeight'] as const) {
    const x = v(k);
    if (x !== undefined) out[k] = x;
  }
  return out;
}
