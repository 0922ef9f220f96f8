import { type ErrorCode, ModelpipeError } from '../errors/index.js';
import { largeBuffers } from './buffer-pool.js';
import { DTYPES, type NumericArray } from './dtype.js';
import { formatShape } from './shape.js';
import { Tensor } from './tensor.js';

/**
 * Concatenates tensors along dimension 0. Numeric data is copied with one typed-array
 * `set` per part (memcpy), never element by element. All parts must agree in dtype and
 * in every dimension but the first.
 */
export function concat(parts: readonly Tensor[]): Tensor {
  const first = parts[0];
  if (first === undefined) throw new ModelpipeError('MP_ERR_TENSOR_CONCAT', 'concat of zero tensors');
  if (first.shape.length === 0) throw new ModelpipeError('MP_ERR_TENSOR_CONCAT', 'cannot concat scalars along dimension 0');
  if (parts.length === 1) return first;
  let rows = 0;
  for (let p = 0; p < parts.length; p++) {
    const t = parts[p] as Tensor;
    if (t.dtype !== first.dtype) {
      throw new ModelpipeError('MP_ERR_TENSOR_CONCAT', `concat: part ${p} is ${t.dtype}, part 0 is ${first.dtype}`);
    }
    if (t.shape.length !== first.shape.length || t.shape.some((d, i) => i > 0 && d !== first.shape[i])) {
      throw new ModelpipeError(
        'MP_ERR_TENSOR_CONCAT',
        `concat: part ${p} has shape ${formatShape(t.shape)}, incompatible with ${formatShape(first.shape)}`,
      );
    }
    rows += t.shape[0] as number;
  }
  const shape = [rows, ...first.shape.slice(1)];
  if (first.dtype === 'string') {
    const out: Uint8Array[] = [];
    for (const t of parts) for (const s of t.data as readonly Uint8Array[]) out.push(s);
    return new Tensor('string', shape, out);
  }
  const ctor = DTYPES[first.dtype].ctor;
  if (ctor === undefined) throw new ModelpipeError('MP_ERR_TENSOR_CONCAT', `concat: ${first.dtype} tensors carry no data`);
  let total = 0;
  for (const t of parts) total += t.data.length;
  // Large merged batches recycle memory the workers handed back (see BufferPool).
  const out = new ctor(largeBuffers.take(total * ctor.BYTES_PER_ELEMENT), 0, total);
  let off = 0;
  for (const t of parts) {
    (out as Float64Array).set(t.data as Float64Array, off);
    off += t.data.length;
  }
  return new Tensor(first.dtype, shape, out);
}

/**
 * Splits a tensor along dimension 0 into parts of the given row counts. Numeric parts
 * are views into the input (no copy).
 */
export function split(t: Tensor, rows: readonly number[]): Tensor[] {
  if (t.shape.length === 0) throw new ModelpipeError('MP_ERR_TENSOR_CONCAT', 'cannot split a scalar');
  const total = t.shape[0] as number;
  const sum = rows.reduce((a, b) => a + b, 0);
  if (sum !== total) throw new ModelpipeError('MP_ERR_TENSOR_CONCAT', `split: row counts add up to ${sum}, tensor has ${total} rows`);
  const rowSize = total === 0 ? 0 : t.size / total;
  const out: Tensor[] = [];
  let start = 0;
  for (const r of rows) {
    const shape = [r, ...t.shape.slice(1)];
    const a = start * rowSize;
    const b = (start + r) * rowSize;
    const data = Array.isArray(t.data) ? (t.data as readonly Uint8Array[]).slice(a, b) : (t.data as NumericArray).subarray(a, b);
    out.push(new Tensor(t.dtype, shape, data));
    start += r;
  }
  return out;
}

/**
 * A numeric tensor with its data copied into a buffer of its own (recycled when
 * large), so it can be transferred to a worker whatever it was a view into.
 */
export function ownedCopy(t: Tensor): Tensor {
  const ctor = DTYPES[t.dtype].ctor;
  if (ctor === undefined || Array.isArray(t.data))
    throw new ModelpipeError('MP_ERR_TENSOR_DTYPE', `ownedCopy: ${t.dtype} tensors are not numeric`);
  const src = t.data as NumericArray;
  const own = new ctor(largeBuffers.take(src.byteLength), 0, src.length);
  (own as Float64Array).set(src as Float64Array);
  return new Tensor(t.dtype, t.shape, own);
}

/** Row `i` of dimension 0 as a view tensor of shape [1, ...rest]. */
export function row(t: Tensor, i: number): Tensor {
  const n = t.shape[0] ?? 0;
  if (i < 0 || i >= n) throw new ModelpipeError('MP_ERR_TENSOR_SHAPE', `row ${i} out of range for ${n} rows`);
  const rowSize = t.size / n;
  const data = Array.isArray(t.data)
    ? (t.data as readonly Uint8Array[]).slice(i * rowSize, (i + 1) * rowSize)
    : (t.data as NumericArray).subarray(i * rowSize, (i + 1) * rowSize);
  return new Tensor(t.dtype, [1, ...t.shape.slice(1)], data);
}

/** Named tensors of one example or request: a request's Map or a pipeline example's record. */
export type NamedTensors = ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>;

/** A stacked batch: one tensor per input name, and how many rows each example put in. */
export interface Stacked {
  inputs: Map<string, Tensor>;
  rows: number[];
}

/**
 * The one stacking step of every batch (the server's merged requests, RunInference's
 * local and remote batches): per input name, the examples' tensors concatenated along
 * dimension 0 (`concat`: one example keeps its own tensors, no copy). Every example
 * must name the same inputs as the first (else MP_ERR_INPUT_COUNT) and none may be a
 * scalar (MP_ERR_INPUT_RANK: there is no dimension to stack along). An example's rows
 * are dimension 0 of its first input.
 */
export function stackInputs(examples: readonly NamedTensors[]): Stacked {
  const first = examples[0];
  if (first === undefined) throw new ModelpipeError('MP_ERR_TENSOR_CONCAT', 'stack of zero examples');
  const names = first instanceof Map ? [...first.keys()] : Object.keys(first);
  const columns = names.map(() => new Array<Tensor>(examples.length));
  const rows = new Array<number>(examples.length);
  for (let i = 0; i < examples.length; i++) {
    const ex = examples[i] as NamedTensors;
    const count = ex instanceof Map ? ex.size : Object.keys(ex).length;
    for (let k = 0; k < names.length; k++) {
      const name = names[k] as string;
      const t = ex instanceof Map ? ex.get(name) : Object.hasOwn(ex, name) ? (ex as Record<string, Tensor>)[name] : undefined;
      if (count !== names.length || !(t instanceof Tensor)) {
        const has = ex instanceof Map ? [...ex.keys()] : Object.keys(ex);
        throw new ModelpipeError('MP_ERR_INPUT_COUNT', `example ${i} has inputs ${has.join(',')}, expected ${names.join(',')}`);
      }
      if (t.shape.length === 0) {
        throw new ModelpipeError('MP_ERR_INPUT_RANK', `example ${i}: input ${name} is a scalar; it needs a batch dimension`);
      }
      (columns[k] as Tensor[])[i] = t;
    }
    rows[i] = ((columns[0] as Tensor[])[i] as Tensor).shape[0] as number;
  }
  const inputs = new Map<string, Tensor>();
  for (let k = 0; k < names.length; k++) inputs.set(names[k] as string, concat(columns[k] as Tensor[]));
  return { inputs, rows };
}

/**
 * The inverse for a batch's outputs: each output split along dimension 0 into the
 * examples' row counts, as views (no copy). Per example, its outputs in the given
 * order. An output whose rows do not add up fails with `code`: the model's fault
 * (MP_ERR_MODEL_OUTPUT) or a server's (MP_ERR_BAD_RESPONSE); `names` label the message.
 */
export function unstackOutputs(
  outputs: readonly Tensor[],
  rows: readonly number[],
  names?: readonly string[],
  code: ErrorCode = 'MP_ERR_MODEL_OUTPUT',
): Tensor[][] {
  let total = 0;
  for (const r of rows) total += r;
  const per = rows.map(() => new Array<Tensor>(outputs.length));
  for (let o = 0; o < outputs.length; o++) {
    const t = outputs[o] as Tensor;
    if (t.shape[0] !== total) {
      const what = names?.[o] === undefined ? `output ${o}` : `output ${names[o]}`;
      throw new ModelpipeError(code, `${what} has ${t.shape[0]} rows for a batch of ${total} rows (${rows.join('+')})`);
    }
    const parts = rows.length === 1 ? [t] : split(t, rows);
    for (let i = 0; i < parts.length; i++) (per[i] as Tensor[])[o] = parts[i] as Tensor;
  }
  return per;
}

/** unstackOutputs for named outputs: per example, a record of its share of each output. */
export function unstackNamed(
  names: readonly string[],
  outputs: readonly Tensor[],
  rows: readonly number[],
  code?: ErrorCode,
): Record<string, Tensor>[] {
  return unstackOutputs(outputs, rows, names, code).map((ts) => {
    const rec: Record<string, Tensor> = {};
    for (let o = 0; o < names.length; o++) rec[names[o] as string] = ts[o] as Tensor;
    return rec;
  });
}
