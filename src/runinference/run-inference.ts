import pino from 'pino';
import type { Registry } from 'prom-client';
import { ModelpipeError, type ErrorCode, toModelpipeError } from '../errors/index.js';
import { batchStream } from './batching.js';
import { tensorSignature } from './function-handler.js';
import { type DeadLetter, type ModelHandler, type PredictionResult, type ProcessedHandler, planOf } from './handler.js';
import { type KeyedModelHandler, isKeyedModelHandler } from './keyed-handler.js';
import { metricsFor, newStepStats } from './metrics.js';
import { orderedMap } from './ordered.js';
import type { PipelineContext, Sink, StepStats } from './sink.js';

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
  registry?: Registry;
}

interface Item {
  key: unknown;
  raw: unknown;
  x: unknown;
  plan: ProcessedHandler<unknown, unknown>;
  idx: number;
}

const log = pino({ name: 'runinference' }, pino.destination({ dest: 2, sync: true }));

export function runInferenceStream<E, P>(
  src: AsyncIterable<E>,
  handler: ModelHandler<E, P>,
  options: RunInferenceOptions,
  ctx: PipelineContext,
): AsyncGenerator<PredictionResult<E, P>> {
  const items = (async function* () {
    for await (const raw of src) yield [undefined, raw] as [unknown, unknown];
  })();
  return engine(items, handler as ModelHandler<unknown, unknown>, options, ctx, stepStats(options, ctx), false) as AsyncGenerator<
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
  return engine(items, handler as ModelHandler<unknown, unknown>, options, ctx, stepStats(options, ctx), true) as AsyncGenerator<
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

async function* engine(
  src: AsyncIterable<[unknown, unknown]>,
  handler: ModelHandler<unknown, unknown> | KeyedModelHandler<unknown, unknown, unknown>,
  options: RunInferenceOptions,
  ctx: PipelineContext,
  stats: StepStats,
  keyed: boolean,
): AsyncGenerator<unknown> {
  const multi = isKeyedModelHandler(handler) ? handler : undefined;
  const single = multi ? undefined : planOf(handler as ModelHandler<unknown, unknown>);
  const hints = multi ? multi.batching : single?.batching;
  const metrics = metricsFor(options.registry);
  const ratio = options.maxFailureRatio;
  const minSeen = options.minExamplesForRatio ?? 100;
  let seen = 0;
  let failed = 0;
  const firstErrors: string[] = [];

  const dead = async (batch: DeadLetter[]): Promise<void> => {
    if (batch.length === 0) return;
    failed += batch.length;
    stats.failedExamples += batch.length;
    ctx.deadLetterCount += batch.length;
    for (const d of batch) if (firstErrors.length < 5) firstErrors.push(`${d.stage}: ${d.error.code}: ${d.error.message}`);
    const dl = options.deadLetter;
    if (dl === undefined) {
      for (const d of batch) if (ctx.deadLetterCount <= 20) log.warn({ stage: d.stage, error: d.error, key: d.key }, 'dead letter');
    } else if (typeof dl === 'function') {
      for (const d of batch) await dl(d);
    } else {
      await dl.write(batch);
    }
  };
  const letter = (it: { key: unknown; raw: unknown }, stage: DeadLetter['stage'], err: unknown, code: ErrorCode, modelId?: string) => {
    const e = toModelpipeError(err, code);
    const d: DeadLetter = { example: it.raw, stage, error: { code: e.code, message: e.message } };
    if (keyed) d.key = it.key;
    if (modelId !== undefined) d.modelId = modelId;
    return d;
  };
  const checkRatio = (): void => {
    if (ratio === undefined || seen < minSeen || failed / seen <= ratio) return;
    throw new ModelpipeError(
      'MP_ERR_FAILURE_RATIO',
      `${stats.step}: ${failed} of ${seen} examples failed (${((100 * failed) / seen).toFixed(1)}% > max ${(100 * ratio).toFixed(1)}%); ` +
        `${stats.failedBatches} failed batches; first errors: ${firstErrors.join(' | ')}`,
    );
  };

  // Stage 1: pick the model and preprocess per example (bounded concurrency, order kept).
  const prepared = orderedMap(src, options.preprocessConcurrency ?? 4, async ([key, raw]): Promise<Item | DeadLetter> => {
    let plan = single as ProcessedHandler<unknown, unknown>;
    let idx = 0;
    if (multi) {
      try {
        idx = multi.indexFor(key);
      } catch (e) {
        return letter({ key, raw }, 'preprocess', e, 'MP_ERR_UNKNOWN_MODEL');
      }
      plan = multi.planAt(idx);
    }
    let x: unknown = raw;
    try {
      for (const f of plan.pre) x = await f(x);
    } catch (e) {
      return letter({ key, raw }, 'preprocess', e, 'MP_ERR_PREPROCESS');
    }
    return { key, raw, x, plan, idx };
  });
  // Fast path: nothing to do per example, so no per-example promises either.
  const direct = !multi && (single as ProcessedHandler<unknown, unknown>).pre.length === 0;
  const items = (async function* () {
    if (direct) {
      const plan = single as ProcessedHandler<unknown, unknown>;
      for await (const [key, raw] of src) yield { key, raw, x: raw, plan, idx: 0 };
      return;
    }
    for await (const r of prepared) {
      if ('plan' in r) yield r;
      else {
        seen++;
        await dead([r]);
        checkRatio();
      }
    }
  })();

  // Stage 2: batches of one model and one shape signature.
  const batches = batchStream(items, {
    ...pick(hints, options),
    signature: (it) => `${it.idx}|${it.plan.inner.signature ? it.plan.inner.signature(it.x) : tensorSignature(it.x)}`,
    weight: (it) => (it.plan.inner.weight ? it.plan.inner.weight(it.x) : 1),
  });

  // Stage 3: run batches (bounded concurrency, order kept), postprocess, route failures.
  const concurrency = options.concurrency ?? (multi ? 1 : single?.inner.concurrency) ?? 1;
  const ran = orderedMap(batches, concurrency, async (batch: Item[]) => {
    const first = batch[0] as Item;
    const plan = first.plan;
    const core = plan.inner;
    if (multi) await multi.acquire(first.idx);
    try {
      if (!core.isLoaded()) {
        const t0 = performance.now();
        await core.load();
        const ms = performance.now() - t0;
        stats.loadModelMillis += ms;
        stats.modelByteSize = core.byteSize();
        metrics.loadLatency.set({ step: stats.step, model_id: core.modelId }, ms);
        metrics.modelByteSize.set({ step: stats.step, model_id: core.modelId }, core.byteSize());
      }
      if (stats.modelByteSize === 0) stats.modelByteSize = core.byteSize(); // loaded earlier in this process
      const t0 = performance.now();
      let res: { predictions: unknown[]; modelId: string };
      try {
        res = await core.runBatch(batch.map((it) => it.x));
        if (res.predictions.length !== batch.length) {
          throw new ModelpipeError(
            'MP_ERR_MODEL_OUTPUT',
            `${core.modelId}: ${res.predictions.length} predictions for ${batch.length} examples`,
          );
        }
      } catch (e) {
        stats.failedBatches++;
        metrics.failedBatches.inc({ step: stats.step, model_id: core.modelId });
        return { out: [], dead: batch.map((it) => letter(it, 'inference', e, 'MP_ERR_BATCH_FAILED', core.modelId)) };
      }
      const micros = (performance.now() - t0) * 1000;
      const labels = { step: stats.step, model_id: res.modelId };
      metrics.numInferences.inc(labels, batch.length);
      metrics.batchLatency.observe(labels, micros);
      metrics.batchSize.observe(labels, batch.length);
      stats.batches++;
      stats.numInferences += batch.length;
      stats.batchLatencyMicrosTotal += micros;
      stats.batchSizeTotal += batch.length;
      if (!stats.modelIds.includes(res.modelId)) stats.modelIds.push(res.modelId);
      const out: unknown[] = [];
      const dl: DeadLetter[] = [];
      for (let i = 0; i < batch.length; i++) {
        const it = batch[i] as Item;
        let p = res.predictions[i];
        try {
          for (const f of plan.post) p = await f(p, it.raw);
        } catch (e) {
          dl.push(letter(it, 'postprocess', e, 'MP_ERR_POSTPROCESS', res.modelId));
          continue;
        }
        const pr: PredictionResult<unknown, unknown> = { example: it.raw, inference: p, modelId: res.modelId };
        out.push(keyed ? [it.key, pr] : pr);
      }
      return { out, dead: dl };
    } finally {
      if (multi) multi.release(first.idx);
    }
  });
  for await (const r of ran) {
    seen += r.out.length + r.dead.length;
    await dead(r.dead);
    checkRatio();
    yield* r.out;
  }
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
