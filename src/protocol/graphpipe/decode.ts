import { ModelpipeError } from '../../errors/index.js';
import { DTYPES, DTYPE_BY_WIRE_ID, type DType, MAX_ELEMENTS, Tensor } from '../../tensor/index.js';
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

/** Ranks beyond this are rejected: no model has them, and they cost work to check. */
export const MAX_RANK = 64;

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

function readTensor(r: WireReader, t: Table): Tensor {
  const what = t.what;
  const dtype = wireType(r, t.u8(0, 'type'), what);
  const shape = t.int64s(1, 'shape', 0);
  if (shape.length > MAX_RANK) r.fail('MP_ERR_WIRE_SHAPE', `${what} has rank ${shape.length}, more than ${MAX_RANK}`);
  const dataPos = t.offset(2, 'data');
  const data = dataPos === 0 ? new Uint8Array(0) : r.byteVector(dataPos, `${what}.data`);
  if (dtype === 'string') {
    const elems = t.offsets(3, 'string_val');
    const n = product(shape, elems.length);
    if (n !== elems.length) {
      r.fail('MP_ERR_WIRE_DATA_SIZE', `${what} has shape [${shape.join(', ')}] but ${elems.length} strings`);
    }
    if (data.length !== 0) r.fail('MP_ERR_WIRE_DATA_SIZE', `${what} is a string tensor with ${data.length} bytes of numeric data`);
    return new Tensor(
      'string',
      shape,
      elems.map((p, i) => r.byteVector(p, `${what}.string_val[${i}]`)),
    );
  }
  if (t.offset(3, 'string_val') !== 0 && t.offsets(3, 'string_val').length !== 0) {
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

function readTensors(r: WireReader, parent: Table, slot: number, name: string): Tensor[] {
  return parent.offsets(slot, name).map((p, i) => readTensor(r, r.table(p, `${name}[${i}]`)));
}

/**
 * Decodes a GraphPipe `Request`. Union NONE and MetadataRequest mean metadata (as
 * graphpipe-go treats them); tags outside the union are an error.
 */
export function decodeRequest(bytes: Uint8Array): Request {
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
  const inputs = readTensors(r, ir, 2, 'input_tensors');
  const inputNames = inputNamesOf(ir.texts(1, 'input_names'), inputs.length);
  if (inputNames.length !== 0 && inputNames.length !== inputs.length) {
    throw new ModelpipeError('MP_ERR_INPUT_COUNT', `request names ${inputNames.length} inputs but carries ${inputs.length} tensors`);
  }
  return { type: 'infer', config: ir.text(0, 'config'), inputNames, inputs, outputNames: ir.texts(3, 'output_names') };
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
  const errors: WireError[] = root.offsets(1, 'errors').map((p, i) => {
    const e = r.table(p, `errors[${i}]`);
    // Number(), not BigInt.asIntN(53, …): asIntN wraps at ±2^52, turning 2^53-1 into -1.
    // Codes beyond ±2^53 round to the nearest double.
    return { code: Number(e.i64(0, 'code')), message: e.text(1, 'message') };
  });
  return { outputs: readTensors(r, root, 0, 'output_tensors'), errors };
}

function readIO(r: WireReader, parent: Table, slot: number, name: string): IOMetadata[] {
  return parent.offsets(slot, name).map((p, i) => {
    const t = r.table(p, `${name}[${i}]`);
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
