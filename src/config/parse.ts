import type { ErrorCode } from '../errors/index.js';
import { ModelpipeError } from '../errors/index.js';
import { ConfigContext, type Raw, isObj, join } from './context.js';
import { upgradeLegacy } from './legacy.js';
import type { ConfigWarn, ModelConfig } from './model-config.js';
import { TRITON_TYPE_NAMES } from './triton-types.js';

/** Checks one field's value at `path`; returns it (normalized) or throws through ctx. */
type Check = (v: unknown, path: string, ctx: ConfigContext) => unknown;

/** Fields Triton has that modelpipe does not act on: a warning, not an error, so a Triton config loads. */
interface Shape {
  fields: Record<string, Check>;
  ignored?: readonly string[];
}

/** Triton writes 64-bit integers as strings in its JSON form: both spellings are accepted. */
const int =
  (min: number): Check =>
  (v, path, ctx) => {
    const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min)
      ctx.fail(path, `must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
const num =
  (min: number): Check =>
  (v, path, ctx) =>
    typeof v === 'number' && Number.isFinite(v) && v >= min ? v : ctx.fail(path, `must be a number >= ${min}, got ${JSON.stringify(v)}`);
const text: Check = (v, path, ctx) => (typeof v === 'string' ? v : ctx.fail(path, `must be a string, got ${JSON.stringify(v)}`));
const bool: Check = (v, path, ctx) => (typeof v === 'boolean' ? v : ctx.fail(path, `must be true or false, got ${JSON.stringify(v)}`));
const oneOf =
  (...allowed: string[]): Check =>
  (v, path, ctx) =>
    allowed.includes(v as string) ? v : ctx.fail(path, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
const freeObject: Check = (v, path, ctx) => (isObj(v) ? v : ctx.fail(path, 'must be an object'));
const list =
  (each: Check, nonEmpty = false): Check =>
  (v, path, ctx) => {
    if (!Array.isArray(v) || (nonEmpty && v.length === 0)) return ctx.fail(path, `must be a ${nonEmpty ? 'non-empty ' : ''}list`);
    return v.map((x, i) => each(x, join(path, i), ctx));
  };

function object(shape: Shape): Check {
  return (v, path, ctx) => {
    if (!isObj(v)) return ctx.fail(path, 'must be an object');
    const out: Raw = {};
    for (const [k, x] of Object.entries(v)) {
      const at = join(path, k);
      const check = shape.fields[k];
      if (check) out[k] = check(x, at, ctx);
      else if (shape.ignored?.includes(k)) ctx.warn(`${at} is not supported by modelpipe and is ignored`);
      else ctx.fail('', `unknown field ${JSON.stringify(ctx.shown(at))} (known there: ${Object.keys(shape.fields).join(', ')})`);
    }
    return out;
  };
}

const tensor = object({
  fields: { name: text, data_type: oneOf(...TRITON_TYPE_NAMES), dims: list(int(-1)) },
  ignored: ['format', 'reshape', 'is_shape_tensor', 'allow_ragged_batch', 'optional', 'label_filename', 'is_non_linear_format_io'],
});
const named: Check = (v, path, ctx) => {
  const t = tensor(v, path, ctx) as Raw;
  return t.name === undefined ? ctx.fail(join(path, 'name'), 'is required') : t;
};

const queuePolicy = object({
  fields: {
    // DELAY (keep a timed-out request queued at lower priority) has no modelpipe equivalent.
    timeout_action: oneOf('REJECT'),
    default_timeout_microseconds: int(0),
    allow_timeout_override: bool,
    max_queue_size: int(0),
  },
});

const dynamicBatching = object({
  fields: { preferred_batch_size: list(int(1)), max_queue_delay_microseconds: int(0), default_queue_policy: queuePolicy },
  ignored: ['preserve_ordering', 'priority_levels', 'default_priority_level', 'priority_queue_policy'],
});

const instanceGroup = object({
  fields: { name: text, count: int(1), kind: oneOf('KIND_AUTO', 'KIND_CPU', 'KIND_GPU') },
  ignored: ['gpus', 'secondary_devices', 'profile', 'passive', 'host_policy', 'rate_limiter'],
});

const versions: Check = (v, path, ctx) => (list(int(1), true)(v, path, ctx) as number[]).map(String);
const versionPolicy: Check = (v, path, ctx) => {
  const p = object({
    fields: {
      latest: object({ fields: { num_versions: int(1) } }),
      all: object({ fields: {} }),
      specific: object({ fields: { versions } }),
    },
  })(v, path, ctx) as Raw;
  const given = Object.keys(p);
  if (given.length !== 1) ctx.fail(path, 'must hold exactly one of latest, all, specific');
  if (isObj(p.latest) && p.latest.num_versions === undefined) p.latest.num_versions = 1;
  if (isObj(p.specific) && p.specific.versions === undefined) ctx.fail(join(path, 'specific.versions'), 'is required');
  return p;
};

const parameters: Check = (v, path, ctx) => {
  if (!isObj(v)) return ctx.fail(path, 'must be an object of {"string_value": "…"}');
  for (const [k, x] of Object.entries(v)) object({ fields: { string_value: text } })(x, join(path, k), ctx);
  return v;
};

const modelpipe = object({
  fields: {
    description: text,
    intra_op_threads: int(1),
    inter_op_threads: int(1),
    fanout: bool,
    max_abandoned_runs: int(0),
    min_batch_size: int(1),
    max_batch_weight: num(0),
    value_inputs: freeObject,
    app: freeObject,
  },
});

const modelConfig = object({
  fields: {
    name: text,
    platform: text,
    backend: text,
    max_batch_size: int(0),
    input: list(named),
    output: list(named),
    dynamic_batching: dynamicBatching,
    instance_group: list(instanceGroup),
    version_policy: versionPolicy,
    parameters,
    modelpipe,
  },
  ignored: [
    'runtime',
    'batch_input',
    'batch_output',
    'optimization',
    'sequence_batching',
    'ensemble_scheduling',
    'default_model_filename',
    'cc_model_filenames',
    'metric_tags',
    'model_warmup',
    'model_operations',
    'model_transaction_policy',
    'model_repository_agents',
    'response_cache',
  ],
});

/** Rules between fields that each check alone cannot see. */
function crossChecks(c: ModelConfig, ctx: ConfigContext): void {
  const kinds = new Set((c.instance_group ?? []).map((g) => g.kind ?? 'KIND_AUTO').filter((k) => k !== 'KIND_AUTO'));
  if (kinds.size > 1) ctx.fail('instance_group', 'must use one kind (KIND_CPU or KIND_GPU) for every group');
  const min = c.modelpipe?.min_batch_size;
  const max = c.max_batch_size;
  if (min !== undefined && max !== undefined && max > 0 && min > max) {
    ctx.fail('modelpipe.min_batch_size', `(${min}) must not exceed max_batch_size (${max})`);
  }
}

export interface ParseOptions {
  /** Names the config in messages (a file path, "pipeline model_config"). */
  where?: string;
  /** The code bad input fails with (default MP_ERR_BAD_CONFIG; a repository's is MP_ERR_REPO_CONFIG). */
  code?: ErrorCode;
  /** Deprecated spellings and ignored Triton fields, one call each. Default: none reported. */
  warn?: ConfigWarn;
}

/** Checks a parsed JSON value is a model config (old spellings accepted) and returns it in Triton names. */
export function parseModelConfig(json: unknown, opts: ParseOptions = {}): ModelConfig {
  const ctx = new ConfigContext(opts.where ?? 'model config', opts.code ?? 'MP_ERR_BAD_CONFIG', opts.warn ?? (() => undefined));
  if (!isObj(json)) return ctx.fail('', 'must be a JSON object');
  const raw = structuredClone(json);
  upgradeLegacy(raw, ctx);
  const c = modelConfig(raw, '', ctx) as ModelConfig;
  crossChecks(c, ctx);
  return c;
}

/** parseModelConfig over JSON text (a config.json's contents). */
export function parseModelConfigText(json: string, opts: ParseOptions = {}): ModelConfig {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err: unknown) {
    throw new ModelpipeError(
      opts.code ?? 'MP_ERR_BAD_CONFIG',
      `${opts.where ?? 'model config'}: not valid JSON: ${(err as Error).message}`,
    );
  }
  return parseModelConfig(value, opts);
}
