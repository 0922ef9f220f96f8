import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ModelpipeError, quote } from '../errors/index.js';
import type { TensorSpec } from '../models/model.js';
import type { OipParameters } from '../protocol/oip/index.js';
import { Tensor, float16ArrayToFloat32 } from '../tensor/index.js';

/**
 * The Open Inference Protocol's classification extension, as Triton has it:
 * `"parameters": {"classification": k}` on a requested output replaces the output
 * by its k highest elements as BYTES strings "score:index[:label]", ranking all
 * non-batch elements of the output flattened, per batch row.
 */

/** Label names of a model (by engine model name), or undefined when it has none. */
export type LabelSource = (model: string) => readonly string[] | undefined;

/** The largest k accepted: bounds the response size whatever a client asks. */
export const MAX_CLASSIFICATION = 10_000;
/** A labels file larger than this is refused rather than read into memory. */
const MAX_LABELS_BYTES = 16 * 1024 * 1024;

/** The requested k, or undefined when the output asks no classification. */
export function classificationCount(p: OipParameters | undefined, output: string): number | undefined {
  const v = p?.classification;
  if (v === undefined) return undefined;
  const k = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > MAX_CLASSIFICATION) {
    throw new ModelpipeError(
      'MP_ERR_BAD_REQUEST',
      `output ${quote(output)}: "classification" must be an integer from 1 to ${MAX_CLASSIFICATION}, got ${quote(String(v))}`,
    );
  }
  return k;
}

/** Number of leading batch dimensions: 1 when the model declares dimension 0 as any size. */
function batchDims(spec: TensorSpec | undefined, t: Tensor): number {
  return spec !== undefined && spec.shape.length >= 2 && spec.shape[0] === -1 && t.shape.length >= 2 ? 1 : 0;
}

function numbers(t: Tensor, output: string): ArrayLike<number | bigint> {
  if (t.dtype === 'string' || t.dtype === 'null' || t.dtype === 'bool') {
    throw new ModelpipeError('MP_ERR_BAD_REQUEST', `output ${quote(output)} is ${t.dtype}: classification needs numbers`);
  }
  if (t.dtype === 'float16') return float16ArrayToFloat32(t.data as Uint16Array);
  return t.data as ArrayLike<number | bigint>;
}

/** Indices of the k largest of values[from, from+n), largest first; ties to the lower index, NaN last. */
function topIndices(values: ArrayLike<number | bigint>, from: number, n: number, k: number): number[] {
  const order: number[] = [];
  const before = (a: number, b: number): boolean => {
    const x = values[from + a] as number;
    const y = values[from + b] as number;
    const nx = Number.isNaN(x);
    const ny = Number.isNaN(y);
    if (nx || ny) return nx === ny ? a < b : ny;
    return x > y || (x === y && a < b);
  };
  for (let i = 0; i < n; i++) {
    if (order.length === k && !before(i, order[k - 1] as number)) continue;
    let j = order.length === k ? k - 1 : order.length;
    while (j > 0 && before(i, order[j - 1] as number)) j--;
    order.splice(j, 0, i);
    if (order.length > k) order.pop();
  }
  return order;
}

/** Triton writes scores with C's "%f"-like std::to_string: six decimals. */
function score(v: number | bigint): string {
  return typeof v === 'bigint' ? v.toString() : Number.isFinite(v) ? v.toFixed(6) : String(v);
}

/** The classification of one output tensor: BYTES of shape [batch, k] (or [k] without a batch dimension). */
export function classify(
  t: Tensor,
  spec: TensorSpec | undefined,
  k: number,
  labels: readonly string[] | undefined,
  output: string,
): Tensor {
  const values = numbers(t, output);
  const rows = batchDims(spec, t) === 1 ? (t.shape[0] as number) : 1;
  const n = rows === 0 ? 0 : values.length / rows;
  const kk = Math.min(k, n);
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    for (const i of topIndices(values, r * n, n, kk)) {
      const label = labels?.[i];
      out.push(`${score(values[r * n + i] as number)}:${i}${label !== undefined ? `:${label}` : ''}`);
    }
  }
  return Tensor.fromStrings(out, batchDims(spec, t) === 1 ? [rows, kk] : [kk]);
}

/** Applies the classification asked for by each requested output (by position in `names`). */
export function applyClassification(
  names: readonly string[],
  tensors: readonly Tensor[],
  requested: readonly { name: string; parameters?: OipParameters }[],
  specs: readonly TensorSpec[],
  labels: () => readonly string[] | undefined,
): Tensor[] {
  return tensors.map((t, i) => {
    const name = names[i] as string;
    const k = classificationCount(requested.find((o) => o.name === name)?.parameters, name);
    if (k === undefined) return t;
    return classify(
      t,
      specs.find((s) => s.name === name),
      k,
      labels(),
      name,
    );
  });
}

/** Line i (0-based) names class i; CRLF and one trailing newline tolerated. */
export function parseLabelLines(text: string): string[] {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Reads a labels file, bounded in size; a clear MP_ERR_BAD_CONFIG when it cannot. */
export function readLabelsFile(path: string): string[] {
  const unreadable = (why: string, cause?: unknown): ModelpipeError =>
    new ModelpipeError('MP_ERR_BAD_CONFIG', `cannot read labels ${path}: ${why}`, { cause });
  let text: string;
  try {
    if (statSync(path).size > MAX_LABELS_BYTES) throw unreadable(`larger than ${MAX_LABELS_BYTES} bytes`);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw e instanceof ModelpipeError ? e : unreadable((e as Error).message, e);
  }
  return parseLabelLines(text);
}

/**
 * Labels for `serve`: one file for every model (`--labels`), or `labels.txt` in the
 * repository's model directory, re-read when its modification time changes.
 */
export function labelSource(o: { file?: string; repository?: string }): LabelSource | undefined {
  if (o.file !== undefined) {
    const fixed = readLabelsFile(o.file);
    return () => fixed;
  }
  const root = o.repository;
  if (root === undefined) return undefined;
  const cache = new Map<string, { mtimeMs: number; labels: string[] }>();
  return (model) => {
    const name = model.split('@')[0] as string;
    const path = join(root, name, 'labels.txt');
    let mtimeMs: number;
    try {
      mtimeMs = statSync(path).mtimeMs;
    } catch {
      return undefined;
    }
    const hit = cache.get(name);
    if (hit && hit.mtimeMs === mtimeMs) return hit.labels;
    const labels = readLabelsFile(path);
    cache.set(name, { mtimeMs, labels });
    return labels;
  };
}
