import { ModelpipeError, quote } from '../../errors/index.js';
import type { DType } from '../../tensor/index.js';

/** Open Inference Protocol datatype names and the tensor dtypes they map onto. */
export const OIP_DATATYPES = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
} as const satisfies Record<string, DType>;

export type OipDatatype = keyof typeof OIP_DATATYPES;

const BY_DTYPE = new Map<DType, OipDatatype>((Object.keys(OIP_DATATYPES) as OipDatatype[]).map((k) => [OIP_DATATYPES[k] as DType, k]));

/** Reads a datatype name from a request; anything unknown is the caller's mistake (400). */
export function dtypeFromOip(datatype: unknown, what: string): DType {
  if (typeof datatype !== 'string' || !Object.hasOwn(OIP_DATATYPES, datatype)) {
    throw new ModelpipeError(
      'MP_ERR_OIP_DATATYPE',
      `${what}: unknown datatype ${quote(datatype)} (expected one of ${Object.keys(OIP_DATATYPES).join(', ')})`,
    );
  }
  return OIP_DATATYPES[datatype as OipDatatype];
}

export function oipFromDtype(dtype: DType): OipDatatype {
  const d = BY_DTYPE.get(dtype);
  if (d === undefined) throw new ModelpipeError('MP_ERR_OIP_DATATYPE', `dtype ${dtype} has no Open Inference Protocol datatype`);
  return d;
}
