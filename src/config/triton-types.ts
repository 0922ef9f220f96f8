import type { DType } from '../tensor/index.js';

/** Triton's data_type names for modelpipe's dtypes (model configs name types this way). */
export const TRITON_TYPES: Record<DType, string> = {
  bool: 'TYPE_BOOL',
  uint8: 'TYPE_UINT8',
  uint16: 'TYPE_UINT16',
  uint32: 'TYPE_UINT32',
  uint64: 'TYPE_UINT64',
  int8: 'TYPE_INT8',
  int16: 'TYPE_INT16',
  int32: 'TYPE_INT32',
  int64: 'TYPE_INT64',
  float16: 'TYPE_FP16',
  float32: 'TYPE_FP32',
  float64: 'TYPE_FP64',
  string: 'TYPE_STRING',
  null: 'TYPE_INVALID',
};

/** Every data_type a config may name (Triton's, bfloat16 included, though no modelpipe model has it). */
export const TRITON_TYPE_NAMES: ReadonlySet<string> = new Set([...Object.values(TRITON_TYPES), 'TYPE_BF16']);
