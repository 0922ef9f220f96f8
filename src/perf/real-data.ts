import { readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { ModelpipeError, quote } from '../errors/index.js';
import { type DType, type Nested, Tensor, concat, fromNested } from '../tensor/index.js';
import { mapLimit } from '../vision/limit.js';
import { preprocessImages } from '../vision/preprocess.js';
import type { Preset } from '../vision/presets.js';
import type { InputSpec } from './inputs.js';

/**
 * Real data for `modelpipe perf`: a folder of images through a vision preset, or a
 * JSONL file of requests. Everything is decoded once, before the load starts, and
 * held for the run, so both are bounded: a count of images or lines and the bytes
 * of the tensors held. Past either bound perf refuses to start (MP_ERR_BAD_CONFIG)
 * rather than swap or run out of memory in the middle of a measurement.
 */

export interface RealDataLimits {
  /** Most images, or JSONL lines with a request. */
  maxItems: number;
  /** Most bytes of tensor data held (and of JSONL text read). */
  maxBytes: number;
}

export const REAL_DATA_LIMITS: RealDataLimits = { maxItems: 10_000, maxBytes: 512 * 1024 * 1024 };

/** The requests perf cycles through, and the rows each carries on average (for rows/s). */
export interface RequestSet {
  requests: Tensor[][];
  rows: number;
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif']);
const tooBig = (what: string, why: string) => new ModelpipeError('MP_ERR_BAD_CONFIG', `${what}: ${why}`);

/** Image files under `dir` (recursively), by path, so runs send the same order. */
function listImages(dir: string, limits: RealDataLimits): string[] {
  let names: string[];
  try {
    names = readdirSync(dir, { recursive: true, encoding: 'utf8' });
  } catch (e) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--images ${dir}: ${(e as Error).message}`, { cause: e });
  }
  const files = names.filter((n) => IMAGE_EXTENSIONS.has(extname(n).toLowerCase())).sort();
  if (files.length === 0) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--images ${dir}: no JPEG, PNG, WebP or GIF files`);
  if (files.length > limits.maxItems) throw tooBig(`--images ${dir}`, `${files.length} images, more than ${limits.maxItems}`);
  return files.map((f) => join(dir, f));
}

/**
 * Requests of `batchSize` rows each from the images under `dir`, in order and wrapping
 * around: ceil(images / batchSize) requests, so every image is sent once per cycle
 * (the last request tops up from the first images).
 */
export async function imageRequests(
  dir: string,
  preset: Preset,
  spec: InputSpec,
  batchSize: number,
  limits: RealDataLimits = REAL_DATA_LIMITS,
): Promise<RequestSet> {
  const files = listImages(dir, limits);
  const count = Math.ceil(files.length / batchSize);
  const rowBytes = 3 * preset.width * preset.height * (preset.dtype === 'uint8' ? 1 : 4);
  // The requests plus the per-image tensors they are built from.
  const held = (count * batchSize + (batchSize > 1 ? files.length : 0)) * rowBytes;
  if (held > limits.maxBytes) {
    throw tooBig(
      `--images ${dir}`,
      `${files.length} images at batch size ${batchSize} would hold ${held} bytes, more than ${limits.maxBytes}`,
    );
  }
  if (preset.dtype !== spec.dtype) {
    throw new ModelpipeError(
      'MP_ERR_BAD_CONFIG',
      `preset ${quote(preset.name)} makes ${preset.dtype}; input ${quote(spec.name)} takes ${spec.dtype}`,
    );
  }
  const fileBytes = files.reduce((a, f) => a + statSync(f).size, 0);
  if (fileBytes > limits.maxBytes) throw tooBig(`--images ${dir}`, `the files hold ${fileBytes} bytes, more than ${limits.maxBytes}`);
  // One image at a time per decode, so a bad file is named; a few decode at once.
  const rows = await mapLimit(files, 4, async (file) => {
    try {
      return await preprocessImages([readFileSync(file)], preset, { concurrency: 1 });
    } catch (e) {
      throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--images: ${file}: ${(e as Error).message.replace(/^image 0: /, '')}`, { cause: e });
    }
  });
  // A model without a batch dimension takes one image as it is: [3,H,W] rather than [1,3,H,W].
  const batched = spec.shape.length !== 3;
  if (!batched && batchSize !== 1)
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `input ${quote(spec.name)} has no batch dimension: --batch-size must be 1`);
  const requests: Tensor[][] = [];
  for (let k = 0; k < count; k++) {
    const parts = Array.from({ length: batchSize }, (_, j) => rows[(k * batchSize + j) % rows.length] as Tensor);
    const t = concat(parts);
    requests.push([batched ? t : new Tensor(t.dtype, t.shape.slice(1), t.data)]);
  }
  return { requests, rows: batched ? batchSize : 1 };
}

function lineTensor(value: unknown, dtype: DType, where: string): Tensor {
  if (!Array.isArray(value)) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${where}: not a nested array`);
  try {
    return fromNested(value as Nested, dtype);
  } catch (e) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${where}: ${(e as Error).message}`, { cause: e });
  }
}

/** One JSONL line: `{"inputs": {name: nested array}}`, or a bare nested array for a one-input model. */
function parseLine(text: string, specs: readonly InputSpec[], where: string): Tensor[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${where}: invalid JSON (${(e as Error).message})`, { cause: e });
  }
  if (Array.isArray(v)) {
    if (specs.length !== 1)
      throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${where}: a bare array needs a one-input model; this one has ${specs.length}`);
    const s = specs[0] as InputSpec;
    return [lineTensor(v, s.dtype, `${where}: input ${quote(s.name)}`)];
  }
  const inputs = (v as { inputs?: unknown } | null)?.inputs;
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${where}: expected {"inputs": {NAME: nested array}} or a nested array`);
  }
  const given = inputs as Record<string, unknown>;
  for (const k of Object.keys(given)) {
    if (!specs.some((s) => s.name === k)) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${where}: the model has no input ${quote(k)}`);
  }
  return specs.map((s) => {
    if (!Object.hasOwn(given, s.name)) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${where}: input ${quote(s.name)} is missing`);
    return lineTensor(given[s.name], s.dtype, `${where}: input ${quote(s.name)}`);
  });
}

const tensorBytes = (t: Tensor) =>
  t.dtype === 'string'
    ? (t.data as readonly Uint8Array[]).reduce((a, b) => a + b.length + 4, 0)
    : (t.data as { byteLength: number }).byteLength;

/** One request per non-blank line of `file`, in order; rows per request are averaged (dimension 0 of a batched first input). */
export function jsonlRequests(file: string, specs: readonly InputSpec[], limits: RealDataLimits = REAL_DATA_LIMITS): RequestSet {
  let text: string;
  try {
    const size = statSync(file).size;
    if (size > limits.maxBytes) throw tooBig(`--jsonl ${file}`, `${size} bytes, more than ${limits.maxBytes}`);
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof ModelpipeError) throw e;
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--jsonl ${file}: ${(e as Error).message}`, { cause: e });
  }
  const requests: Tensor[][] = [];
  let held = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '') continue;
    if (requests.length === limits.maxItems) throw tooBig(`--jsonl ${file}`, `more than ${limits.maxItems} requests`);
    const req = parseLine(line, specs, `--jsonl ${file}:${i + 1}`);
    held += req.reduce((a, t) => a + tensorBytes(t), 0);
    if (held > limits.maxBytes)
      throw tooBig(`--jsonl ${file}:${i + 1}`, `the requests so far hold ${held} bytes, more than ${limits.maxBytes}`);
    requests.push(req);
  }
  if (requests.length === 0) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--jsonl ${file}: no requests (every line is blank)`);
  const first = specs[0] as InputSpec;
  const batched = first.shape.length > 0 && first.shape[0] === -1;
  const rows = batched ? requests.reduce((a, r) => a + ((r[0] as Tensor).shape[0] ?? 1), 0) / requests.length : 1;
  return { requests, rows };
}
