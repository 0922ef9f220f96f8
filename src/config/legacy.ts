import { type ConfigContext, type Raw, isObj } from './context.js';

/**
 * The spellings modelpipe used before the one schema (a repository's config.json, the
 * `--model-config` file, pipeline JSON's camelCase `batching`), rewritten to the
 * Triton names before the canonical checks run. Each one still works and costs one
 * deprecation warning; a value moved here is reported under the name the user wrote.
 */
interface Move {
  from: string;
  to: string;
  /** Unit or shape change; a value of the wrong type passes through for the checks to name. */
  map?: (v: unknown) => unknown;
  /** The old field's own lower bound where it was stricter than the new one's. */
  min?: number;
}

const msToUs = (v: unknown): unknown => (typeof v === 'number' ? v * 1000 : v);
const kind = (v: unknown): unknown => (v === 'cpu' ? 'KIND_CPU' : v === 'cuda' ? 'KIND_GPU' : v);
const named = (v: unknown): unknown => (Array.isArray(v) ? v.map((name) => ({ name })) : v);

const MOVES: Move[] = [
  // `--model-config` files (scheduling's old parser)
  { from: 'dynamic_batching.max_batch_size', to: 'max_batch_size' },
  { from: 'dynamic_batching.max_queue_delay_us', to: 'dynamic_batching.max_queue_delay_microseconds' },
  { from: 'dynamic_batching.preferred_batch_sizes', to: 'dynamic_batching.preferred_batch_size' },
  { from: 'max_queue_size', to: 'dynamic_batching.default_queue_policy.max_queue_size' },
  // a repository's config.json
  { from: 'batching.max_batch_size', to: 'max_batch_size' },
  { from: 'batching.max_queue_delay_us', to: 'dynamic_batching.max_queue_delay_microseconds' },
  { from: 'batching.preferred_batch_sizes', to: 'dynamic_batching.preferred_batch_size' },
  { from: 'max_queue', to: 'dynamic_batching.default_queue_policy.max_queue_size' },
  { from: 'device', to: 'instance_group.0.kind', map: kind },
  { from: 'inputs', to: 'input', map: named },
  { from: 'outputs', to: 'output', map: named },
  { from: 'description', to: 'modelpipe.description' },
  { from: 'value_inputs', to: 'modelpipe.value_inputs' },
  { from: 'app', to: 'modelpipe.app' },
  { from: 'labels', to: 'modelpipe.app.labels' },
  { from: 'preprocessing', to: 'modelpipe.app.preprocessing' },
  // both
  { from: 'timeout_ms', to: 'dynamic_batching.default_queue_policy.default_timeout_microseconds', map: msToUs },
  { from: 'instances', to: 'instance_group.0.count' },
  { from: 'fanout', to: 'modelpipe.fanout' },
  { from: 'max_abandoned_runs', to: 'modelpipe.max_abandoned_runs' },
  // pipeline JSON's `batching`
  { from: 'batching.maxBatchSize', to: 'max_batch_size', min: 1 },
  { from: 'batching.minBatchSize', to: 'modelpipe.min_batch_size' },
  { from: 'batching.maxWaitMs', to: 'dynamic_batching.max_queue_delay_microseconds', map: msToUs },
  { from: 'batching.maxBatchWeight', to: 'modelpipe.max_batch_weight' },
];

const parts = (path: string): string[] => path.split('.');

function get(o: Raw, path: string): unknown {
  let cur: unknown = o;
  for (const k of parts(path)) cur = isObj(cur) || Array.isArray(cur) ? (cur as Raw)[k] : undefined;
  return cur;
}

function remove(o: Raw, path: string): void {
  const ks = parts(path);
  const parent = get(o, ks.slice(0, -1).join('.') || '') as Raw | undefined;
  const at = ks.length === 1 ? o : parent;
  if (at && isObj(at)) delete at[ks[ks.length - 1] as string];
}

function set(o: Raw, path: string, value: unknown, ctx: ConfigContext): void {
  const ks = parts(path);
  let cur: Raw = o;
  ks.slice(0, -1).forEach((k, i) => {
    const nextIsIndex = /^\d+$/.test(ks[i + 1] as string);
    if (cur[k] === undefined) cur[k] = nextIsIndex ? [] : {};
    const next = cur[k];
    if (!isObj(next) && !Array.isArray(next)) ctx.fail(ks.slice(0, i + 1).join('.'), 'must be an object');
    cur = next as Raw;
  });
  cur[ks[ks.length - 1] as string] = value;
}

function move(raw: Raw, m: Move, ctx: ConfigContext): void {
  const v = get(raw, m.from);
  if (v === undefined) return;
  if (m.min !== undefined && typeof v === 'number' && v < m.min) ctx.fail(m.from, `must be an integer >= ${m.min}, got ${v}`);
  if (get(raw, m.to) !== undefined) ctx.fail(m.from, `and ${m.to} are the same setting: give only ${m.to}`);
  remove(raw, m.from);
  set(raw, m.to, m.map ? m.map(v) : v, ctx);
  ctx.origin.set(m.to, `${m.from} (now ${m.to})`);
  ctx.warn(`${m.from} is deprecated: use ${m.to}${m.map === msToUs ? ' (in microseconds)' : ''}`);
}

/** `dynamic_batching: false` / `batching: false` turned batching off: Triton says max_batch_size 0. */
function switchedOff(raw: Raw, key: 'dynamic_batching' | 'batching', ctx: ConfigContext): void {
  if (raw[key] !== false) return;
  if (raw.max_batch_size !== undefined) ctx.fail(key, 'false and max_batch_size are the same setting: give only max_batch_size');
  delete raw[key];
  raw.max_batch_size = 0;
  ctx.origin.set('max_batch_size', `${key} (now max_batch_size)`);
  ctx.warn(`${key}: false is deprecated: use max_batch_size: 0`);
}

/** A repository's `batching` object turned batching on, as `dynamic_batching` does now. */
function batchingObject(raw: Raw, movedInside: boolean, ctx: ConfigContext): void {
  const b = raw.batching;
  if (b === undefined) return;
  if (!isObj(b)) ctx.fail('batching', 'must be an object or false');
  const left = Object.keys(b);
  if (left.length > 0) ctx.fail(`batching.${left[0]}`, 'is not a field of batching (deprecated: use dynamic_batching)');
  delete raw.batching;
  if (raw.dynamic_batching === undefined) raw.dynamic_batching = {};
  if (!movedInside) ctx.warn('batching is deprecated: use dynamic_batching');
}

/** The repository's old version policies: {latest: N}, {all: true}, {specific: [v…]}. */
function versionPolicy(raw: Raw, ctx: ConfigContext): void {
  const p = raw.version_policy;
  if (!isObj(p)) return;
  let now: Raw | undefined;
  if (typeof p.latest === 'number') now = { latest: { num_versions: p.latest } };
  else if (p.all === true) now = { all: {} };
  else if (Array.isArray(p.specific)) now = { specific: { versions: p.specific } };
  if (!now) return;
  raw.version_policy = now;
  ctx.origin.set('version_policy', 'version_policy (old form)');
  ctx.warn(`version_policy ${JSON.stringify(p)} is deprecated: use ${JSON.stringify(now)}`);
}

/** Rewrites old spellings in place (raw is the caller's own copy). */
export function upgradeLegacy(raw: Raw, ctx: ConfigContext): void {
  switchedOff(raw, 'dynamic_batching', ctx);
  switchedOff(raw, 'batching', ctx);
  const hadBatching = isObj(raw.batching) && Object.keys(raw.batching).length > 0;
  for (const m of MOVES) move(raw, m, ctx);
  batchingObject(raw, hadBatching, ctx);
  versionPolicy(raw, ctx);
}
