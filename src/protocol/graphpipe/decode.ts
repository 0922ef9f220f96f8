import { ModelpipeError } from '../../errors/index.js';
import { DTYPES, DTYPE_BY_WIRE_ID, type DType, MAX_ELEMENTS, MAX_RANK, MAX_STRING_ELEMENTS, Tensor } from '../../tensor/index.js';
import {
  type InferResponse,
  type IOMetadata,
  type MetadataResponse,
  REQ_INFER,
  REQ_METADATA,
  REQ_NONE,
  type Request,
  type WireError,
} from './messages.js';
import { type Table, WireReader } from './reader.js';

export { MAX_RANK, MAX_STRING_ELEMENTS };

/** Tensors (or metadata entries, errors) a message may carry when the caller names no smaller limit. */
export const DEFAULT_MAX_TENSORS = 1024;

/** What a decoder may accept; a server passes the addressed model's input count. */
export interface DecodeLimits {
  /** Most input tensors (and input names) a request may carry. */
  maxInputs?: number;
  /** Most output names a request may carry (a request may name one output twice). */
  maxOutputs?: number;
}

function wireType(r: WireReader, code: number, what: string): DType {
  const t = DTYPE_BY_WIRE_ID[code];
  if (t === undefined) r.fail('MP_ERR_WIRE_BAD_ENUM', `${what} has type ${code}, not a GraphPipe type (0-12)`);
  return t;
}

/** Element count of a shape, or -1 as soon as it exceeds `limit` (no overflow possible). */
function product(shape: readonly number[], limit: number): number {
  let n = 1;
  for (const d of shape) {
    if (d === 0) return 0;
  }
  for (const d of shape) {
    n *= d;
    if (n > limit) return -1;
  }
  return n;
}

function readStrings(r: WireReader, t: Table, shape: readonly number[], budget: { left: number }): Uint8Array[] {
  const what = t.what;
  const { n, start } = t.offsetVector(3, 'string_val', budget.left);
  budget.left -= n;
  // Sharing is legal, but no more elements than distinct strings (a 4-byte offset and a
  // 4-byte length each) could fill the message: a flood of offsets to one string then
  // costs no more per body byte than distinct strings do.
  if (n > r.length / 8) {
    r.fail('MP_ERR_WIRE_TOO_MANY', `${what}.string_val has ${n} strings; ${r.length} bytes hold at most ${Math.floor(r.length / 8)}`);
  }
  if (product(shape, n) !== n) r.fail('MP_ERR_WIRE_DATA_SIZE', `${what} has shape [${shape.join(', ')}] but ${n} strings`);
  const out = new Array<Uint8Array>(n);
  for (let i = 0; i < n; i++) {
    const p = r.follow(start + 4 * i, `${what}.string_val[${i}]`);
    out[i] = r.byteVector(p, `${what}.string_val[${i}]`);
  }
  return out;
}

function readTensor(r: WireReader, t: Table, budget: { left: number }): Tensor {
  const what = t.what;
  const dtype = wireType(r, t.u8(0, 'type'), what);
  const shape = t.int64s(1, 'shape', 0);
  if (shape.length > MAX_RANK) r.fail('MP_ERR_WIRE_SHAPE', `${what} has rank ${shape.length}, more than ${MAX_RANK}`);
  const dataPos = t.offset(2, 'data');
  const data = dataPos === 0 ? new Uint8Array(0) : r.byteVector(dataPos, `${what}.data`);
  if (dtype === 'string') {
    if (data.length !== 0) r.fail('MP_ERR_WIRE_DATA_SIZE', `${what} is a string tensor with ${data.length} bytes of numeric data`);
    return new Tensor('string', shape, readStrings(r, t, shape, budget));
  }
  if (t.offsetVector(3, 'string_val', Number.POSITIVE_INFINITY).n !== 0) {
    r.fail('MP_ERR_WIRE_DATA_SIZE', `${what} is a ${dtype} tensor with string_val set`);
  }
  if (dtype === 'null') {
    if (data.length !== 0) r.fail('MP_ERR_WIRE_DATA_SIZE', `${what} is a Null tensor with ${data.length} bytes of data`);
    // No data bounds a Null tensor's shape, so check it here: Tensor would reject it
    // with a non-wire code.
    if (product(shape, MAX_ELEMENTS) < 0) r.fail('MP_ERR_WIRE_SHAPE', `${what} has shape [${shape.join(', ')}], over 2^50 elements`);
    return new Tensor('null', shape, new Uint8Array(0));
  }
  const item = DTYPES[dtype].itemSize;
  const n = product(shape, Math.min(MAX_ELEMENTS, data.length / item));
  if (n < 0 || n * item !== data.length) {
    r.fail('MP_ERR_WIRE_DATA_SIZE', `${what} has shape [${shape.join(', ')}] of ${dtype} but ${data.length} bytes of data`);
  }
  return Tensor.fromBytes(dtype, shape, data);
}

function readTensors(r: WireReader, parent: Table, slot: number, name: string, max: number): Tensor[] {
  const budget = { left: MAX_STRING_ELEMENTS };
  return parent.tables(slot, name, max).map((t) => readTensor(r, t, budget));
}

function refuseOver(ir: Table, slot: number, what: string, max: number): void {
  const n = ir.offsetVector(slot, `input_${what}`, Number.POSITIVE_INFINITY).n;
  if (n > max) throw new ModelpipeError('MP_ERR_INPUT_COUNT', `request carries ${n} input ${what}; the model takes ${max} inputs`);
}

/**
 * Decodes a GraphPipe `Request`. Union NONE and MetadataRequest mean metadata (as
 * graphpipe-go treats them); tags outside the union are an error.
 */
export function decodeRequest(bytes: Uint8Array, limits: DecodeLimits = {}): Request {
  const r = new WireReader(bytes);
  const root = r.root('Request');
  const tag = root.u8(0, 'req_type');
  if (tag !== REQ_NONE && tag !== REQ_METADATA && tag !== REQ_INFER) {
    r.fail('MP_ERR_WIRE_BAD_UNION', `Request.req has union type ${tag}, expected 0-2`);
  }
  const p = root.offset(1, 'req');
  if (tag !== REQ_INFER) {
    // The MetadataRequest table is empty, but when present it must still be a table
    // inside the message: otherwise a truncated or corrupt request would pass.
    if (p !== 0) r.table(p, 'MetadataRequest');
    return { type: 'metadata' };
  }
  if (p === 0) r.fail('MP_ERR_WIRE_BAD_UNION', 'Request.req is InferRequest but holds no table');
  const ir = r.table(p, 'InferRequest');
  const maxInputs = limits.maxInputs ?? DEFAULT_MAX_TENSORS;
  // More inputs than the model takes is refused from the vectors' lengths alone.
  // Names may come twice over (graphpipe-batcher's doubled list, see inputNamesOf).
  refuseOver(ir, 1, 'names', 2 * maxInputs);
  refuseOver(ir, 2, 'tensors', maxInputs);
  const inputs = readTensors(r, ir, 2, 'input_tensors', maxInputs);
  const inputNames = inputNamesOf(ir.texts(1, 'input_names', 2 * maxInputs), inputs.length);
  if (inputNames.length !== 0 && inputNames.length !== inputs.length) {
    throw new ModelpipeError('MP_ERR_INPUT_COUNT', `request names ${inputNames.length} inputs but carries ${inputs.length} tensors`);
  }
  return {
    type: 'infer',
    config: ir.text(0, 'config'),
    inputNames,
    inputs,
    outputNames: ir.texts(3, 'output_names', limits.maxOutputs ?? DEFAULT_MAX_TENSORS),
  };
}

/**
 * graphpipe-go's graphpipe-batcher sends its list of input names twice over (a bug in
 * the reference batcher that the reference server, which reads names by tensor index,
 * never notices): a list that is exactly the names repeated counts once.
 */
export function inputNamesOf(names: string[], tensors: number): string[] {
  if (tensors === 0 || names.length !== 2 * tensors) return names;
  for (let i = 0; i < tensors; i++) if (names[i] !== names[tensors + i]) return names;
  return names.slice(0, tensors);
}

export function decodeInferResponse(bytes: Uint8Array): InferResponse {
  const r = new WireReader(bytes);
  const root = r.root('InferResponse');
  const errors: WireError[] = root.tables(1, 'errors', DEFAULT_MAX_TENSORS).map((e) => {
    // Number(), not BigInt.asIntN(53, …): asIntN wraps at ±2^52, turning 2^53-1 into -1.
    // Codes beyond ±2^53 round to the nearest double.
    return { code: Number(e.i64(0, 'code')), message: e.text(1, 'message') };
  });
  return { outputs: readTensors(r, root, 0, 'output_tensors', DEFAULT_MAX_TENSORS), errors };
}

function readIO(r: WireReader, parent: Table, slot: number, name: string): IOMetadata[] {
  return parent.tables(slot, name, DEFAULT_MAX_TENSORS).map((t, i) => {
    return {
      name: t.text(0, 'name'),
      description: t.text(1, 'description'),
      shape: t.int64s(2, 'shape', -1),
      type: wireType(r, t.u8(3, 'type'), `${name}[${i}]`),
    };
  });
}

export function decodeMetadataResponse(bytes: Uint8Array): MetadataResponse {
  const r = new WireReader(bytes);
  const root = r.root('MetadataResponse');
  return {
    name: root.text(0, 'name'),
    version: root.text(1, 'version'),
    server: root.text(2, 'server'),
    description: root.text(3, 'description'),
    inputs: readIO(r, root, 4, 'inputs'),
    outputs: readIO(r, root, 5, 'outputs'),
  };
}
