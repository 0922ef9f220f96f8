import { readFile } from 'node:fs/promises';
import { traceConfigFrom } from '../observe/trace-config.js';
import { startTracing, stopTracing } from '../observe/tracing.js';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ModelpipeError, toModelpipeError } from '../errors/index.js';
import { resultToRow, csvSink, jsonlSink, stdoutSink } from './file-sinks.js';
import { Flow } from './flow.js';
import { rejectBadRecords } from './bad-record.js';
import { type BatchingHints, type DeadLetter, type ModelHandler, type PredictionResult, withPreprocess } from './handler.js';
import { keyText, sourceFromDef } from './pipeline-sources.js';
import { loadPresetConfig } from '../vision/presets.js';
import { presetPreprocess } from '../vision/preset-step.js';
import { onnxHandler } from './onnx-handler.js';
import {
  type HandlerDef,
  type PipelineDef,
  type SinkDef,
  loadModuleHandler,
  recordToExample,
  streamBatchingOf,
  validatePipelineDef,
} from './pipeline-def.js';
import { progress } from './progress.js';
import { redisStreamSink } from './redis-sink.js';
import { graphPipeUrlHandler, openInferenceUrlHandler } from './remote-url-handlers.js';
import { type RunReport, type Sink, callbackSink, newContext } from './sink.js';
import { postgresSink, sqliteSink } from './sql-sinks.js';

/**
 * Runs a pipeline file (the library side of `modelpipe run pipeline.(js|json)`):
 * - .json: a PipelineDef (see pipeline-def.ts), validated then run;
 * - .js/.mjs: a module whose default export is a PipelineDef, or a function that gets the
 *   RunInference API and returns a Flow (run to its end), a RunReport, or a PipelineDef.
 */
export async function runPipelineFile(path: string): Promise<RunReport> {
  // OTEL_* in the environment (set by `modelpipe run --otlp-endpoint` for its workers too) trace the run.
  const config = traceConfigFrom(process.env);
  if (config !== undefined) await startTracing(config);
  try {
    const v = await loadPipelineFile(path);
    if (v instanceof Flow) return await v.run({ summary: true });
    if (typeof v === 'object' && v !== null && 'items' in v && 'steps' in v) return v as RunReport;
    return await runPipelineDef(validatePipelineDef(v));
  } finally {
    await stopTracing(); // the last batches' spans are exported before the process ends
  }
}

/**
 * The pipeline definition of a file, when it has one: a .json file, or a .js module whose
 * default export is a definition object. Undefined for a module exporting a function (its
 * pipeline exists only once run). `modelpipe run --workers` uses it to check the source.
 */
export async function readPipelineDef(path: string): Promise<PipelineDef | undefined> {
  if (extname(path) === '.json') return validatePipelineDef(await loadPipelineFile(path));
  checkExtension(path);
  const mod = await importPipeline(path);
  return typeof mod.default === 'function' ? undefined : validatePipelineDef(mod.default);
}

function checkExtension(path: string): void {
  const ext = extname(path);
  if (ext === '.json' || ext === '.js' || ext === '.mjs') return;
  const hint = ext === '.ts' || ext === '.mts' ? ' (Node 20 cannot import TypeScript: compile it with tsc and run the .js)' : '';
  throw new ModelpipeError('MP_ERR_PIPELINE_DEF', `pipeline file must be .json, .js or .mjs: ${path}${hint}`);
}

async function importPipeline(path: string): Promise<{ default?: unknown }> {
  try {
    return (await import(pathToFileURL(resolve(path)).href)) as { default?: unknown };
  } catch (e) {
    throw new ModelpipeError('MP_ERR_PIPELINE_DEF', `cannot import pipeline ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** Parsed JSON, or a module's default export (a function export is called with the API). */
async function loadPipelineFile(path: string): Promise<unknown> {
  checkExtension(path);
  if (extname(path) === '.json') {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      throw new ModelpipeError('MP_ERR_PIPELINE_DEF', `cannot read pipeline ${path}: ${(e as Error).message}`);
    }
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new ModelpipeError('MP_ERR_PIPELINE_DEF', `${path}: invalid JSON: ${(e as Error).message}`);
    }
  }
  const v = (await importPipeline(path)).default;
  return typeof v === 'function' ? await (v as (api: unknown) => unknown)(await import('./api.js')) : v;
}

type Row = Record<string, unknown>;

export function sinkFromDef(d: SinkDef, key: string | undefined, append = false): Sink<Row> {
  switch (d.type) {
    case 'jsonl':
      return jsonlSink(d.path, { append });
    case 'csv':
      return csvSink(d.path, { append, ...(d.columns ? { columns: d.columns } : {}) });
    case 'stdout':
      return stdoutSink();
    case 'sqlite':
      return sqliteSink(d.path, { table: d.table ?? 'predictions', ...(key ? { key } : {}) });
    case 'postgres':
      return postgresSink(d.url, { table: d.table ?? 'predictions', ...(key ? { key } : {}) });
    case 'redis':
      return redisStreamSink({ url: d.url, stream: d.stream, idOf: (r: Row) => String(r.key) });
  }
}

/** The core handler a definition names (model, remote server or module), before preprocessing. */
function coreHandler(d: Exclude<HandlerDef, { type: 'module' }>): ModelHandler<unknown, unknown> {
  const outputs = d.outputs === undefined ? {} : { outputs: d.outputs };
  const opt = <K extends string, V>(k: K, v: V | undefined) => (v === undefined ? {} : ({ [k]: v } as Record<K, V>));
  switch (d.type) {
    case 'onnx':
      return onnxHandler({ model: d.model, ...opt('workers', d.workers), ...opt('watch', d.watch), ...outputs }) as ModelHandler<
        unknown,
        unknown
      >;
    case 'graphpipe':
    case 'oip': {
      const common = {
        ...outputs,
        ...opt('modelId', d.modelId),
        ...opt('inputName', d.inputName),
        ...opt('concurrency', d.concurrency),
        ...opt('timeoutMs', d.timeoutMs),
      };
      const h =
        d.type === 'graphpipe'
          ? graphPipeUrlHandler(d.url, common)
          : openInferenceUrlHandler(d.url, { ...common, model: d.model, ...opt('version', d.version) });
      return h as ModelHandler<unknown, unknown>;
    }
  }
}

async function handlerFromDef(d: HandlerDef): Promise<ModelHandler<unknown, unknown>> {
  if (d.type === 'module') return loadModuleHandler(d.path, d.export, d.options);
  const h = coreHandler(d);
  if (d.preset !== undefined) {
    const pre = presetPreprocess(d.preset, d.presets === undefined ? undefined : await loadPresetConfig(d.presets));
    return withPreprocess(h, (x: unknown) => pre((x as { data: Uint8Array }).data));
  }
  return withPreprocess(h, (x: unknown) => recordToExample(x, d.input ?? {}));
}

export async function runPipelineDef(def: PipelineDef): Promise<RunReport> {
  const handler = rejectBadRecords(await handlerFromDef(def.handler));
  const ctx = newContext();
  const src = await sourceFromDef(def.source, def.key, ctx);
  // Several worker processes share file sinks: they append (O_APPEND) instead of truncating.
  const append = process.env.MODELPIPE_WORKER === '1';
  const dlSink = def.deadLetter ? sinkFromDef(def.deadLetter, 'key', append) : undefined;
  const deadLetter = async (ds: readonly DeadLetter[]): Promise<void> => {
    const rows = ds.map((d) => ({
      key: d.key === undefined ? null : keyText(d.key),
      stage: d.stage,
      code: d.error.code,
      message: d.error.message,
    }));
    if (dlSink) await dlSink.write(rows);
    // A dead letter is a final outcome: ack it (after it was written) so it is not redelivered.
    await src.ack?.(rows, 'dead');
  };
  const bar =
    def.progress === false
      ? undefined
      : progress({ ...(src.total === undefined ? {} : { total: src.total }), label: 'run', sharesTerminal: def.sink.type === 'stdout' });
  const flow = src.keyed
    .runInferenceKeyed(handler, {
      ...batchingFor(def, handler, src.bounded),
      ...(def.concurrency === undefined ? {} : { concurrency: def.concurrency }),
      ...(def.maxFailureRatio === undefined ? {} : { maxFailureRatio: def.maxFailureRatio }),
      ...(def.minExamplesForRatio === undefined ? {} : { minExamplesForRatio: def.minExamplesForRatio }),
      deadLetter: callbackSink(deadLetter),
    })
    .map((r) => resultToRow(r as [unknown, PredictionResult<unknown, unknown>]))
    .tap(() => bar?.tick());
  // Rows carry the key in column "key"; it is the primary key (idempotent writes) when the
  // key is meaningful: a record field, a message id, a file path — not a line number.
  const sink = sinkFromDef(def.sink, src.idempotent ? 'key' : undefined, append);
  // SIGTERM/SIGINT stop intake; everything taken is still written, then the summary is printed.
  const stop = (): void => src.stop?.();
  if (src.stop) for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, stop);
  try {
    const ack = src.ack;
    const report = ack ? await flow.through(sink).to(callbackSink((rows) => ack(rows, 'written'))) : await flow.to(sink);
    if (ack) await sink.close();
    bar?.done();
    if (def.summary ?? true) process.stderr.write((await import('./metrics.js')).formatSummary(report));
    return report;
  } catch (e) {
    throw toModelpipeError(e, 'MP_ERR_PIPELINE');
  } finally {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.off(sig, stop);
    await dlSink?.close();
    await src.close?.();
  }
}

/**
 * Batching for a definition. A bounded input (files, JSONL, CSV) has no one waiting for an
 * answer, so unless minBatchSize/maxWaitMs are given it fills every batch to maxBatchSize
 * (a partial batch only at the end); a stream (Redis, HTTP, stdin) sends what it has as soon
 * as its source has nothing more ready, and waits at most maxWaitMs (default 50) for more.
 */
function batchingFor(def: PipelineDef, h: ModelHandler<unknown, unknown>, bounded: boolean): BatchingHints {
  const b: BatchingHints = { ...streamBatchingOf(def) };
  if (bounded) {
    b.minBatchSize ??= b.maxBatchSize ?? h.batching?.maxBatchSize ?? 32;
    b.maxWaitMs ??= BOUNDED_MAX_WAIT_MS;
  }
  return b;
}

/** A bounded input's batch waits at most this long for a slow source (a network disk). */
const BOUNDED_MAX_WAIT_MS = 10_000;
