import { ModelpipeError } from '../../errors/index.js';
import { type DType, type NumericArray, Tensor, formatShape, shapeSize } from '../../tensor/index.js';
import { tensorFromBinary, tensorToBinary } from './binary.js';
import { dtypeFromOip, oipFromDtype } from './datatypes.js';
import { tensorFromJSON } from './json-data.js';
import type { OipParameters } from './messages.js';

/**
 * Tensors to and from the gRPC messages: typed `contents` (one repeated field per
 * datatype family) or `raw_*_contents` (the binary extension's byte layout).
 */

export type ContentsField =
  | 'bool_contents'
  | 'int_contents'
  | 'int64_contents'
  | 'uint_contents'
  | 'uint64_contents'
  | 'fp32_contents'
  | 'fp64_contents'
  | 'bytes_contents';

export type GrpcContents = Partial<Record<ContentsField, unknown[]>>;

export interface GrpcTensor {
  name: string;
  datatype: string;
  shape: (number | string)[];
  parameters?: Record<string, GrpcParameter>;
  contents?: GrpcContents | null;
}

export interface GrpcParameter {
  bool_param?: boolean;
  int64_param?: string | number;
  string_param?: string;
  double_param?: number;
  uint64_param?: string | number;
  parameter_choice?: string;
}

const FIELD: Partial<Record<DType, ContentsField>> = {
  bool: 'bool_contents',
  int8: 'int_contents',
  int16: 'int_contents',
  int32: 'int_contents',
  int64: 'int64_contents',
  uint8: 'uint_contents',
  uint16: 'uint_contents',
  uint32: 'uint_contents',
  uint64: 'uint64_contents',
  float32: 'fp32_contents',
  float64: 'fp64_contents',
  string: 'bytes_contents',
};

function shapeOf(t: GrpcTensor, what: string): number[] {
  const shape = (t.shape ?? []).map(Number);
  shapeSize(shape, `${what} shape`);
  return shape;
}

/** An input (or output) tensor from its message; `raw` is its raw contents entry when those are used. */
export function tensorFromGrpc(t: GrpcTensor, raw: Uint8Array | undefined, what: string): Tensor {
  const dtype = dtypeFromOip(t.datatype, what);
  const shape = shapeOf(t, what);
  if (raw !== undefined) return tensorFromBinary(dtype, shape, raw, what);
  const field = FIELD[dtype];
  if (field === undefined)
    throw new ModelpipeError('MP_ERR_OIP_DATA', `${what}: ${t.datatype} has no typed contents; send it as raw contents`);
  const values = t.contents?.[field] ?? [];
  if (dtype === 'string') {
    const n = shapeSize(shape);
    if (values.length !== n) {
      throw new ModelpipeError(
        'MP_ERR_OIP_DATA',
        `${what}: shape ${formatShape(shape)} needs ${n} elements, ${field} has ${values.length}`,
      );
    }
    return new Tensor('string', shape, values as Uint8Array[]);
  }
  return tensorFromJSON(dtype, shape, values, what);
}

/** Typed contents of a tensor (FP16 has none: callers send it raw). */
export function contentsOf(t: Tensor): GrpcContents {
  const field = FIELD[t.dtype];
  if (field === undefined) throw new ModelpipeError('MP_ERR_OIP_DATATYPE', `${t.dtype} has no typed gRPC contents`);
  if (t.dtype === 'string') return { bytes_contents: [...(t.data as readonly Uint8Array[])] };
  if (t.dtype === 'bool') return { bool_contents: Array.from(t.data as Uint8Array, (b) => b !== 0) };
  if (t.dtype === 'int64' || t.dtype === 'uint64') return { [field]: Array.from(t.data as BigInt64Array, String) };
  return { [field]: Array.from(t.data as Exclude<NumericArray, BigInt64Array | BigUint64Array>) };
}

/** Whether every tensor has typed contents (FP16 does not). */
export function typedContentsPossible(tensors: readonly Tensor[]): boolean {
  return tensors.every((t) => FIELD[t.dtype] !== undefined);
}

/** A tensor message, with typed contents or (raw) without; raw bytes are the tensor's own memory. */
export function tensorToGrpc(name: string, t: Tensor, raw: boolean): { msg: GrpcTensor; raw: Uint8Array | undefined } {
  const msg: GrpcTensor = { name, datatype: oipFromDtype(t.dtype), shape: [...t.shape] };
  if (raw) return { msg, raw: tensorToBinary(t) };
  msg.contents = contentsOf(t);
  return { msg, raw: undefined };
}

/** Parameters map values as plain JS values. */
export function parametersFromGrpc(p: Record<string, GrpcParameter> | undefined): OipParameters | undefined {
  if (!p || Object.keys(p).length === 0) return undefined;
  const out: OipParameters = {};
  for (const [k, v] of Object.entries(p)) {
    const choice = v.parameter_choice as keyof GrpcParameter | undefined;
    const val = choice ? v[choice] : (v.bool_param ?? v.string_param ?? v.int64_param ?? v.double_param ?? v.uint64_param);
    if (val !== undefined) out[k] = typeof val === 'string' && (choice === 'int64_param' || choice === 'uint64_param') ? Number(val) : val;
  }
  return out;
}

export function parametersToGrpc(p: OipParameters | undefined): Record<string, GrpcParameter> {
  const out: Record<string, GrpcParameter> = {};
  for (const [k, v] of Object.entries(p ?? {})) {
    if (typeof v === 'boolean') out[k] = { bool_param: v };
    else if (typeof v === 'number') out[k] = Number.isInteger(v) ? { int64_param: v } : { double_param: v };
    else out[k] = { string_param: v };
  }
  return out;
}
