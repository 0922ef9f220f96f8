import { endpointsMatch } from '../client/endpoints/route.js';
import { ModelpipeError } from '../errors/index.js';
import { type DType, type Nested, type Tensor, fromNested } from '../tensor/index.js';
import { type ConfigWarn, type ModelConfig, instancesOf, parseModelConfig, toStreamBatchOptions } from '../config/index.js';
import type { BatchingHints, ModelHandler } from './handler.js';

/**
 * The JSON pipeline definition read by `modelpipe run pipeline.json`:
 *
 *   { "source":  { "type": "jsonl", "path": "in.jsonl" },
 *     "key": "id",
 *     "handler": { "type": "onnx", "model": "mnist.onnx", "input": { "field": "inputs" } },
 *     "model_config": { "max_batch_size": 16 },
 *     "sink": { "type": "sqlite", "path": "out.db", "table": "predictions" },
 *     "deadLetter": { "type": "jsonl", "path": "failed.jsonl" },
 *     "maxFailureRatio": 0.1 }
 *
 * Records become examples through `handler.input`: `field` names the record field holding
 * either one nested array (a tensor for the model's first input) or an object of input
 * name → nested array; `dtype` defaults to float32. stdin lines and Redis `data` fields are
 * parsed as JSON (stdin with format "text": kept as strings); a record that cannot be parsed,
 * in any source, is a dead letter with its position (bad-record.ts), not the end of the run.
 * With `preset` (a Classy preset: squeezenet, vgg, imagenet, or a name from the `presets`
 * file), files sources' images are decoded by the Classy preprocessor instead.
 *
 * Remote handlers use the same `input`/`preset`/`outputs` fields:
 *   { "type": "graphpipe", "url": "http://host:9000" }
 *   { "type": "oip", "url": "http://host:9000" | "grpc://host:9001", "model": "squeezenet1.1", "version"?: "1" }
 * `model_config` is the one model config (config/, Triton's names; docs/model-config.md) as a
 * pulled stream reads it: max_batch_size, dynamic_batching.max_queue_delay_microseconds (the
 * longest an example waits for its batch), modelpipe.min_batch_size / max_batch_weight, and
 * instance_group's count (an onnx handler's workers). The old camelCase `batching` section
 * ({maxBatchSize, minBatchSize, maxWaitMs, maxBatchWeight}) still works, one warning a field.
 * Validation errors are MP_ERR_PIPELINE_DEF.
 */
export type SourceDef =
  | { type: 'jsonl'; path: string }
  | { type: 'csv'; path: string; delimiter?: string }
  | { type: 'files'; glob: string; mode?: 'binary' | 'text' }
  | { type: 'stdin'; format?: 'jsonl' | 'text' }
  | { type: 'http'; port?: number; host?: string; path?: string }
  | {
      type: 'redis';
      url: string;
      stream: string;
      group: string;
      consumer?: string;
      field?: string;
      blockMs?: number;
      claimIdleMs?: number;
      maxDeliveries?: number;
      exitWhenDrained?: boolean;
    };

export type SinkDef =
  | { type: 'jsonl'; path: string }
  | { type: 'csv'; path: string; columns?: string[] }
  | { type: 'stdout' }
  | { type: 'sqlite'; path: string; table?: string }
  | { type: 'postgres'; url: string; table?: string }
  | { type: 'redis'; url: string; stream: string };

/** How records become tensors: a field of nested arrays, or images through a Classy preset. */
export interface ExampleDef {
  outputs?: string[];
  /** Classy preset name for image files. */
  preset?: string;
  /** Classy preset config file defining more presets. */
  presets?: string;
  input?: { field?: string; dtype?: DType };
}

export type HandlerDef =
  | ({ type: 'onnx'; model: string; workers?: number; watch?: boolean } & ExampleDef)
  | ({ type: 'graphpipe'; url: string; modelId?: string; inputName?: string; concurrency?: number; timeoutMs?: number } & ExampleDef)
  | ({
      type: 'oip';
      url: string;
      model: string;
      version?: string;
      modelId?: string;
      inputName?: string;
      concurrency?: number;
      timeoutMs?: number;
    } & ExampleDef)
  | { type: 'module'; path: string; export?: string; options?: unknown };

export interface PipelineDef {
  source: SourceDef;
  key?: string;
  handler: HandlerDef;
  /**
   * Deprecated spelling of the stream's batching (camelCase). Checking a definition folds
   * it into model_config and removes it, so a checked definition says everything once.
   */
  batching?: BatchingHints;
  /** The model config (Triton names), old `batching` fields folded in; see streamBatchingOf. */
  model_config?: ModelConfig;
  concurrency?: number;
  sink: SinkDef;
  deadLetter?: SinkDef;
  maxFailureRatio?: number;
  minExamplesForRatio?: number;
  progress?: boolean;
  summary?: boolean;
}

const bad = (msg: string): never => {
  throw new ModelpipeError('MP_ERR_PIPELINE_DEF', msg);
};
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (o: Record<string, unknown>, k: string, where: string): void => {
  if (typeof o[k] !== 'string' || o[k] === '') bad(`${where}.${k} must be a non-empty string`);
};

const SOURCE_REQ: Record<string, string[]> = {
  jsonl: ['path'],
  csv: ['path'],
  files: ['glob'],
  stdin: [],
  http: [],
  redis: ['url', 'stream', 'group'],
};
const HANDLER_REQ: Record<string, string[]> = {
  onnx: ['model'],
  graphpipe: ['url'],
  oip: ['url', 'model'],
  module: ['path'],
};
const SINK_REQ: Record<string, string[]> = {
  jsonl: ['path'],
  csv: ['path'],
  stdout: [],
  sqlite: ['path'],
  postgres: ['url'],
  redis: ['url', 'stream'],
};

/** Where a definition's warnings (deprecated spellings) go when no callback is given: Node's warning channel. */
const emitWarning: ConfigWarn = (msg) => process.emitWarning(msg, 'DeprecationWarning');

/** Checks a parsed JSON value is a PipelineDef, with a precise message when it is not. */
export function validatePipelineDef(v: unknown, opts: { warn?: ConfigWarn } = {}): PipelineDef {
  if (!isObj(v)) return bad('pipeline definition must be a JSON object');
  const known = [
    'source',
    'key',
    'handler',
    'batching',
    'model_config',
    'concurrency',
    'sink',
    'deadLetter',
    'maxFailureRatio',
    'minExamplesForRatio',
    'progress',
    'summary',
  ];
  for (const k of Object.keys(v)) if (!known.includes(k)) bad(`unknown pipeline field ${JSON.stringify(k)} (known: ${known.join(', ')})`);
  const part = (name: string, req: Record<string, string[]>, optional = false): void => {
    const p = v[name];
    if (p === undefined && optional) return;
    if (!isObj(p)) {
      bad(`${name} must be an object with a "type"`);
      return;
    }
    const fields = req[String(p.type)];
    if (!fields) {
      bad(`${name}.type must be one of ${Object.keys(req).join(', ')}, got ${JSON.stringify(p.type)}`);
      return;
    }
    for (const f of fields) str(p, f, name);
  };
  part('source', SOURCE_REQ);
  part('sink', SINK_REQ);
  part('deadLetter', SINK_REQ, true);
  const src = v.source as Record<string, unknown>;
  for (const k of ['claimIdleMs', 'maxDeliveries', 'blockMs']) {
    const n = src[k];
    if (n !== undefined && (typeof n !== 'number' || !Number.isInteger(n) || n < 1)) bad(`source.${k} must be an integer >= 1`);
  }
  const h = v.handler;
  if (!isObj(h)) return bad('handler must be an object with a "type"');
  const handlerReq = HANDLER_REQ[String(h.type)];
  if (!handlerReq) bad(`handler.type must be one of ${Object.keys(HANDLER_REQ).join(', ')}, got ${JSON.stringify(h.type)}`);
  for (const f of handlerReq ?? []) str(h, f, 'handler');
  if ((h.type === 'graphpipe' || h.type === 'oip') && !endpointsMatch(String(h.url), /^(https?|grpc):\/\//)) {
    bad(
      `handler.url must be an http:// ${h.type === 'oip' ? 'or grpc:// ' : ''}URL, several separated by commas, or a discovery URL, got ${JSON.stringify(h.url)}`,
    );
  }
  if (h.type === 'graphpipe' && String(h.url).includes('grpc://')) bad('handler.url: GraphPipe has no gRPC transport (use type "oip")');
  if (v.key !== undefined && typeof v.key !== 'string') bad('key must be a field name');
  const def = { ...v } as unknown as PipelineDef;
  modelConfigOf(def, opts.warn ?? emitWarning);
  const r = v.maxFailureRatio;
  if (r !== undefined && (typeof r !== 'number' || r < 0 || r > 1)) bad('maxFailureRatio must be a number in [0, 1]');
  return def;
}

/** Parses model_config (with the old `batching` folded in and removed) and sets an onnx handler's workers. */
function modelConfigOf(def: PipelineDef, warn: ConfigWarn): void {
  const raw = def as unknown as Record<string, unknown>;
  if (raw.batching === undefined && raw.model_config === undefined) return;
  if (raw.model_config !== undefined && !isObj(raw.model_config)) bad('model_config must be an object');
  if (raw.batching !== undefined && !isObj(raw.batching)) bad('batching must be an object');
  const given = { ...(raw.model_config as object | undefined), ...(raw.batching !== undefined ? { batching: raw.batching } : {}) };
  def.model_config = parseModelConfig(given, { where: 'model_config', code: 'MP_ERR_PIPELINE_DEF', warn });
  // Only model_config stays, so a checked definition checks again to itself (a worker
  // reads the file its supervisor wrote).
  delete def.batching;
  const instances = instancesOf(def.model_config);
  if (instances === undefined) return;
  if (def.handler.type !== 'onnx') bad('model_config.instance_group applies to an onnx handler only');
  const h = def.handler as Extract<HandlerDef, { type: 'onnx' }>;
  // Equal counts are one setting said twice (as in a definition checked before), not a conflict.
  if (h.workers !== undefined && h.workers !== instances)
    bad('handler.workers and model_config.instance_group are the same setting: give only one');
  def.handler = { ...h, workers: instances };
}

/** The stream batching a checked definition asks for (config/'s one conversion of model_config). */
export function streamBatchingOf(def: PipelineDef): BatchingHints {
  return def.model_config === undefined ? {} : toStreamBatchOptions(def.model_config);
}

/** Turns a record into an ONNX example following handler.input. */
export function recordToExample(rec: unknown, input: { field?: string; dtype?: DType } = {}): Tensor | Record<string, Tensor> {
  const field = input.field ?? 'inputs';
  const dtype = input.dtype ?? 'float32';
  if (!isObj(rec)) throw new ModelpipeError('MP_ERR_BAD_REQUEST', `record is not an object: ${JSON.stringify(rec)?.slice(0, 80)}`);
  const v = rec[field];
  if (v === undefined) throw new ModelpipeError('MP_ERR_MISSING_INPUT', `record has no field ${JSON.stringify(field)}`);
  if (Array.isArray(v)) return fromNested(v as Nested, dtype);
  if (isObj(v)) {
    const out: Record<string, Tensor> = {};
    for (const [k, x] of Object.entries(v)) {
      if (!Array.isArray(x)) throw new ModelpipeError('MP_ERR_BAD_REQUEST', `input ${k} is not an array`);
      out[k] = fromNested(x as Nested, dtype);
    }
    return out;
  }
  throw new ModelpipeError('MP_ERR_BAD_REQUEST', `field ${field} must be an array or an object of arrays`);
}

/** Imports a module handler: its export is a ModelHandler or a factory returning one. */
export async function loadModuleHandler(path: string, exportName = 'default', options?: unknown): Promise<ModelHandler<unknown, unknown>> {
  let mod: Record<string, unknown>;
  try {
    const { pathToFileURL } = await import('node:url');
    const { resolve } = await import('node:path');
    mod = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
  } catch (e) {
    throw new ModelpipeError('MP_ERR_PIPELINE_DEF', `cannot import handler module ${path}: ${(e as Error).message}`, { cause: e });
  }
  let h = mod[exportName];
  if (typeof h === 'function') h = await (h as (o: unknown) => unknown)(options);
  if (!isObj(h) || typeof h.runBatch !== 'function' || typeof h.load !== 'function') {
    throw new ModelpipeError('MP_ERR_PIPELINE_DEF', `${path}#${exportName} is not a ModelHandler (needs load and runBatch)`);
  }
  return h as unknown as ModelHandler<unknown, unknown>;
}
