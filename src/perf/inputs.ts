import { readFileSync, statSync } from 'node:fs';
import { ModelpipeError, quote } from '../errors/index.js';
import { DTYPES, type DType, type NumericDType, Tensor, parseNpy } from '../tensor/index.js';

/** An input as the server's metadata describes it (-1: any size). */
export interface InputSpec {
  name: string;
  dtype: DType;
  shape: number[];
}

export interface InputChoice {
  /** Shapes that replace the metadata's (dynamic dimensions, inexact metadata). */
  shapes?: ReadonlyMap<string, readonly number[]>;
  /** Rows per request: fills a dynamic dimension 0 (default 1). */
  batchSize?: number;
  data?: 'random' | 'zero';
  /** `.npy` files by input name (one input: the name may be ''). */
  npy?: ReadonlyMap<string, string>;
}

/** A request body larger than this is refused: perf would hold it for the whole run. */
const MAX_INPUT_BYTES = 1 << 30;
const MAX_NPY_BYTES = 1 << 30;

/** The request every send repeats, and its rows (dimension 0 of the first input when that is the batch). */
export function buildInputs(specs: readonly InputSpec[], o: InputChoice): { tensors: Tensor[]; rows: number } {
  if (specs.length === 0) throw new ModelpipeError('MP_ERR_BAD_CONFIG', 'the model declares no inputs: nothing to send');
  const tensors = specs.map((s) => {
    const file = o.npy?.get(s.name) ?? (specs.length === 1 ? o.npy?.get('') : undefined);
    if (file !== undefined) return fromNpy(file, s);
    return generate(s, shapeOf(s, o), o.data ?? 'random');
  });
  const first = specs[0] as InputSpec;
  const batched = first.shape.length > 0 && first.shape[0] === -1;
  return { tensors, rows: batched ? ((tensors[0] as Tensor).shape[0] ?? 1) : 1 };
}

function shapeOf(s: InputSpec, o: InputChoice): number[] {
  const given = o.shapes?.get(s.name);
  const shape = given ? [...given] : s.shape.map((d, i) => (i === 0 && d === -1 ? (o.batchSize ?? 1) : d));
  if (shape.some((d) => d < 0)) {
    throw new ModelpipeError(
      'MP_ERR_BAD_CONFIG',
      `input ${quote(s.name)} has dynamic dimensions [${s.shape.join(',')}]: give its shape with --shape ${s.name}:DIMS`,
    );
  }
  return shape;
}

function generate(s: InputSpec, shape: number[], data: 'random' | 'zero'): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  if (s.dtype === 'string')
    return Tensor.fromStrings(
      Array.from({ length: size }, () => (data === 'zero' ? '' : 'x')),
      shape,
    );
  if (s.dtype === 'null') throw new ModelpipeError('MP_ERR_BAD_CONFIG', `input ${quote(s.name)} has no data type`);
  const info = DTYPES[s.dtype];
  if (size * info.itemSize > MAX_INPUT_BYTES) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `input ${quote(s.name)} of shape [${shape.join(',')}] is over ${MAX_INPUT_BYTES} bytes`);
  }
  const t = Tensor.zeros(s.dtype as NumericDType, shape);
  if (data === 'zero') return t;
  const a = t.data as unknown as { [i: number]: number | bigint; length: number };
  const big = s.dtype === 'int64' || s.dtype === 'uint64';
  const float = s.dtype === 'float32' || s.dtype === 'float64';
  for (let i = 0; i < a.length; i++) {
    const r = Math.random();
    // Small non-negative integers stay valid as class ids, token ids and booleans.
    a[i] = float ? r : big ? BigInt(Math.floor(r * 2)) : s.dtype === 'float16' ? 0x3800 : Math.floor(r * 2);
  }
  return t;
}

function fromNpy(path: string, s: InputSpec): Tensor {
  const unreadable = (why: string, cause?: unknown): ModelpipeError =>
    new ModelpipeError('MP_ERR_BAD_CONFIG', `--npy ${path}: ${why}`, { cause });
  let t: Tensor;
  try {
    if (statSync(path).size > MAX_NPY_BYTES) throw unreadable(`larger than ${MAX_NPY_BYTES} bytes`);
    t = parseNpy(readFileSync(path));
  } catch (e) {
    throw e instanceof ModelpipeError ? e : unreadable((e as Error).message, e);
  }
  if (t.dtype !== s.dtype) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--npy ${path} holds ${t.dtype}; input ${quote(s.name)} takes ${s.dtype}`);
  }
  return t;
}
