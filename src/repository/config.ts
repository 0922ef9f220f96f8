import { ModelpipeError } from '../errors/index.js';

/**
 * A model's optional config.json in the repository (`DIR/<model>/config.json`).
 * Known fields are checked, so a typo fails the load with a message instead of
 * being ignored; free-form application fields (labels, preprocessing preset, …)
 * go under `app` (or `labels` / `preprocessing` at the top) and are carried into
 * the model's metadata untouched.
 */
export interface ModelConfig {
  description?: string;
  /** Worker threads, one onnxruntime session each. */
  instances?: number;
  device?: 'cpu' | 'cuda';
  /** Default inputs / outputs, in order. */
  inputs?: string[];
  outputs?: string[];
  /** GraphPipe-style value inputs pinning input shapes: {name: [dtype, shape]}. */
  value_inputs?: Record<string, [unknown, number[]]>;
  /** Dynamic batching; false turns it off even for batchable models. */
  batching?: false | { max_batch_size?: number; max_queue_delay_us?: number; preferred_batch_sizes?: number[] };
  max_queue?: number;
  timeout_ms?: number;
  /** Runs past their timeout whose slots may be given back before they settle (see SchedulerOptions). */
  max_abandoned_runs?: number;
  version_policy?: VersionPolicy;
  /** Free-form application fields carried in metadata. */
  app?: Record<string, unknown>;
}

/** Which versions are served: the newest N (default 1), all of them, or the ones listed. */
export type VersionPolicy = { latest: number } | { all: true } | { specific: string[] };

const FIELDS = new Set([
  'description',
  'instances',
  'device',
  'inputs',
  'outputs',
  'value_inputs',
  'batching',
  'max_queue',
  'timeout_ms',
  'max_abandoned_runs',
  'version_policy',
  'app',
  'labels',
  'preprocessing',
]);

function fail(where: string, msg: string): never {
  throw new ModelpipeError('MP_ERR_REPO_CONFIG', `${where}: ${msg}`);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const count = (v: unknown, min = 0): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min;
const names = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string');

function policy(v: unknown, where: string): VersionPolicy {
  if (!isObj(v)) fail(where, 'version_policy must be {"latest": N}, {"all": true} or {"specific": [versions]}');
  if ('latest' in v) {
    if (!count(v.latest, 1)) fail(where, 'version_policy.latest must be a positive integer');
    return { latest: v.latest as number };
  }
  if ('all' in v) return { all: true };
  if ('specific' in v && Array.isArray(v.specific) && v.specific.length > 0) return { specific: v.specific.map(String) };
  return fail(where, 'version_policy must be {"latest": N}, {"all": true} or {"specific": [versions]}');
}

/** Parses and checks config.json text; `where` names the file in messages. */
export function parseModelConfig(text: string, where: string): ModelConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err: unknown) {
    fail(where, `not valid JSON: ${(err as Error).message}`);
  }
  if (!isObj(raw)) fail(where, 'must be a JSON object');
  for (const k of Object.keys(raw)) if (!FIELDS.has(k)) fail(where, `unknown field ${JSON.stringify(k)} (free-form fields go under "app")`);
  const c: ModelConfig = {};
  if (raw.description !== undefined)
    c.description = typeof raw.description === 'string' ? raw.description : fail(where, 'description must be a string');
  if (raw.instances !== undefined)
    c.instances = count(raw.instances, 1) ? (raw.instances as number) : fail(where, 'instances must be a positive integer');
  if (raw.device !== undefined)
    c.device = raw.device === 'cpu' || raw.device === 'cuda' ? raw.device : fail(where, 'device must be "cpu" or "cuda"');
  if (raw.inputs !== undefined) c.inputs = names(raw.inputs) ? (raw.inputs as string[]) : fail(where, 'inputs must be a list of names');
  if (raw.outputs !== undefined)
    c.outputs = names(raw.outputs) ? (raw.outputs as string[]) : fail(where, 'outputs must be a list of names');
  if (raw.value_inputs !== undefined) {
    c.value_inputs = isObj(raw.value_inputs)
      ? (raw.value_inputs as ModelConfig['value_inputs'] & object)
      : fail(where, 'value_inputs must be {"name": [dtype, shape]}');
  }
  if (raw.batching === false) c.batching = false;
  else if (raw.batching !== undefined) {
    const b = isObj(raw.batching) ? raw.batching : fail(where, 'batching must be an object or false');
    if (b.max_batch_size !== undefined && !count(b.max_batch_size, 1)) fail(where, 'batching.max_batch_size must be a positive integer');
    if (b.max_queue_delay_us !== undefined && !count(b.max_queue_delay_us))
      fail(where, 'batching.max_queue_delay_us must be a non-negative integer');
    if (
      b.preferred_batch_sizes !== undefined &&
      !(Array.isArray(b.preferred_batch_sizes) && b.preferred_batch_sizes.every((x) => count(x, 1)))
    ) {
      fail(where, 'batching.preferred_batch_sizes must be a list of positive integers');
    }
    c.batching = b as Exclude<ModelConfig['batching'], false | undefined>;
  }
  if (raw.max_queue !== undefined)
    c.max_queue = count(raw.max_queue, 1) ? (raw.max_queue as number) : fail(where, 'max_queue must be a positive integer');
  if (raw.timeout_ms !== undefined)
    c.timeout_ms = count(raw.timeout_ms) ? (raw.timeout_ms as number) : fail(where, 'timeout_ms must be a non-negative integer');
  if (raw.max_abandoned_runs !== undefined) {
    c.max_abandoned_runs = count(raw.max_abandoned_runs)
      ? (raw.max_abandoned_runs as number)
      : fail(where, 'max_abandoned_runs must be a non-negative integer');
  }
  if (raw.version_policy !== undefined) c.version_policy = policy(raw.version_policy, where);
  const app = { ...(raw.app === undefined ? {} : isObj(raw.app) ? raw.app : fail(where, 'app must be an object')) };
  if (raw.labels !== undefined) app.labels = raw.labels;
  if (raw.preprocessing !== undefined) app.preprocessing = raw.preprocessing;
  if (Object.keys(app).length > 0) c.app = app;
  return c;
}

/** Versions to serve out of those on disk (newest first). */
export function selectVersions(onDisk: readonly string[], p: VersionPolicy = { latest: 1 }): string[] {
  if ('all' in p) return [...onDisk];
  if ('specific' in p) return onDisk.filter((v) => p.specific.includes(v));
  return onDisk.slice(0, p.latest);
}
