import { readFile } from 'node:fs/promises';
import { ModelpipeError } from '../errors/index.js';

/**
 * Preprocessing presets: how an image becomes a model input.
 *
 * Every output value is `(pixel * scale - mean[c]) / std[c]`, where `pixel` is the
 * 0–255 sample and `c` is the OUTPUT channel position, i.e. mean and std are listed
 * in the preset's channel order (VGG's means are given B,G,R because VGG is BGR).
 */

export type ResizeMode = 'fill' | 'cover' | 'contain';
export type Layout = 'NCHW' | 'NHWC';
export type ChannelOrder = 'RGB' | 'BGR';
export type PresetDType = 'float32' | 'uint8';
export type Triple = readonly [number, number, number];

export interface Preset {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  /** fill: stretch to the exact size; cover: scale then centre-crop; contain: scale then pad with black. */
  readonly resize: ResizeMode;
  readonly layout: Layout;
  readonly channelOrder: ChannelOrder;
  readonly scale: number;
  readonly mean: Triple;
  readonly std: Triple;
  readonly dtype: PresetDType;
}

export type BuiltinPresetName = 'squeezenet' | 'vgg' | 'imagenet';

export const BUILTIN_PRESETS: Readonly<Record<BuiltinPresetName, Preset>> = Object.freeze({
  // Caffe2 SqueezeNet as shipped in /work/shared: BGR planes, raw 0–255, no mean.
  squeezenet: {
    name: 'squeezenet',
    width: 224,
    height: 224,
    resize: 'fill',
    layout: 'NCHW',
    channelOrder: 'BGR',
    scale: 1,
    mean: [0, 0, 0],
    std: [1, 1, 1],
    dtype: 'float32',
  },
  // Keras/Caffe VGG ("caffe" mode): BGR, channels last, ImageNet means in B,G,R order.
  vgg: {
    name: 'vgg',
    width: 224,
    height: 224,
    resize: 'fill',
    layout: 'NHWC',
    channelOrder: 'BGR',
    scale: 1,
    mean: [103.939, 116.779, 123.68],
    std: [1, 1, 1],
    dtype: 'float32',
  },
  // torchvision convention: RGB in [0,1], normalised per channel.
  imagenet: {
    name: 'imagenet',
    width: 224,
    height: 224,
    resize: 'fill',
    layout: 'NCHW',
    channelOrder: 'RGB',
    scale: 1 / 255,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    dtype: 'float32',
  },
} satisfies Record<BuiltinPresetName, Preset>);

/** Largest side we accept: 8192² × 3 float32 is already 805 MB per image. */
const MAX_SIDE = 8192;
const FIELDS = new Set(['width', 'height', 'resize', 'layout', 'channelOrder', 'scale', 'mean', 'std', 'dtype']);

function bad(where: string, msg: string): never {
  throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${where}: ${msg}`);
}

function oneOf<T extends string>(where: string, field: string, v: unknown, allowed: readonly T[], fallback: T): T {
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    bad(where, `${field} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  }
  return v as T;
}

function finite(where: string, field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(where, `${field} must be a finite number, got ${JSON.stringify(v)}`);
  return v;
}

function triple(where: string, field: string, v: unknown, fallback: Triple, nonZero: boolean): Triple {
  if (v === undefined) return fallback;
  if (!Array.isArray(v) || v.length !== 3) bad(where, `${field} must be an array of 3 numbers (one per channel), got ${JSON.stringify(v)}`);
  const t = v.map((x, i) => finite(where, `${field}[${i}]`, x)) as [number, number, number];
  if (nonZero && t.some((x) => x === 0)) bad(where, `${field} must not contain 0 (values are divided by it)`);
  return t;
}

function side(where: string, field: string, v: unknown): number {
  if (v === undefined) bad(where, `${field} is required`);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_SIDE) {
    bad(where, `${field} must be an integer from 1 to ${MAX_SIDE}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Validates one user-defined preset. Required: width, height. Defaults: resize fill,
 * layout NCHW, channelOrder RGB, scale 1, mean [0,0,0], std [1,1,1], dtype float32.
 * Unknown fields are errors so a typo ("chanelOrder") cannot silently fall back to a default.
 */
export function validatePreset(name: string, raw: unknown, source = 'preset'): Preset {
  const where = `${source} ${JSON.stringify(name)}`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad(where, 'must be a JSON object');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!FIELDS.has(k)) bad(where, `unknown field ${JSON.stringify(k)} (known: ${[...FIELDS].join(', ')})`);
  const p: Preset = {
    name,
    width: side(where, 'width', o.width),
    height: side(where, 'height', o.height),
    resize: oneOf(where, 'resize', o.resize, ['fill', 'cover', 'contain'], 'fill'),
    layout: oneOf(where, 'layout', o.layout, ['NCHW', 'NHWC'], 'NCHW'),
    channelOrder: oneOf(where, 'channelOrder', o.channelOrder, ['RGB', 'BGR'], 'RGB'),
    scale: o.scale === undefined ? 1 : finite(where, 'scale', o.scale),
    mean: triple(where, 'mean', o.mean, [0, 0, 0], false),
    std: triple(where, 'std', o.std, [1, 1, 1], true),
    dtype: oneOf(where, 'dtype', o.dtype, ['float32', 'uint8'], 'float32'),
  };
  // uint8 output carries the raw samples; any arithmetic would need rounding and
  // clamping we would rather not do silently.
  if (p.dtype === 'uint8' && (p.scale !== 1 || p.mean.some((m) => m !== 0) || p.std.some((x) => x !== 1))) {
    bad(where, 'dtype uint8 carries raw 0–255 samples: scale must be 1, mean [0,0,0] and std [1,1,1]');
  }
  return Object.freeze(p);
}

/**
 * Parses a preset config: `{ "presets": { "<name>": { width, height, … }, … } }`.
 * Names must not shadow built-ins, so "squeezenet" always means the same thing.
 */
export function parsePresetConfig(text: string, source = 'preset config'): Map<string, Preset> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    bad(source, `invalid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) bad(source, 'must be a JSON object with a "presets" object');
  const top = json as Record<string, unknown>;
  for (const k of Object.keys(top)) if (k !== 'presets') bad(source, `unknown top-level field ${JSON.stringify(k)}`);
  const presets = top.presets;
  if (typeof presets !== 'object' || presets === null || Array.isArray(presets))
    bad(source, '"presets" must be an object of name → preset');
  const out = new Map<string, Preset>();
  for (const [name, raw] of Object.entries(presets)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) bad(source, `preset name ${JSON.stringify(name)} must be letters, digits, . _ -`);
    if (Object.hasOwn(BUILTIN_PRESETS, name)) bad(source, `preset ${JSON.stringify(name)} would shadow the built-in preset`);
    out.set(name, validatePreset(name, raw, source));
  }
  return out;
}

/** Reads and validates a preset config file. */
export async function loadPresetConfig(path: string): Promise<Map<string, Preset>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `cannot read preset config ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parsePresetConfig(text, path);
}

/** A preset by name (built-ins first, then `custom`), or a Preset object as given. */
export function resolvePreset(preset: string | Preset, custom?: ReadonlyMap<string, Preset>): Preset {
  if (typeof preset !== 'string') return preset;
  if (Object.hasOwn(BUILTIN_PRESETS, preset)) return BUILTIN_PRESETS[preset as BuiltinPresetName];
  const p = custom?.get(preset);
  if (p === undefined) {
    const known = [...Object.keys(BUILTIN_PRESETS), ...(custom?.keys() ?? [])];
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `unknown preset ${JSON.stringify(preset)} (known: ${known.join(', ')})`);
  }
  return p;
}

/** The batched tensor shape a preset produces for `n` images. */
export function presetShape(p: Preset, n: number): number[] {
  return p.layout === 'NCHW' ? [n, 3, p.height, p.width] : [n, p.height, p.width, 3];
}
