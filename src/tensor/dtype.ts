/**
 * Element types. Names follow onnxruntime's tensor types; `wireId` is GraphPipe's
 * `Type` enum value. `bool` is not a GraphPipe type (it travels as uint8 there) but
 * the Open Inference Protocol and ONNX have it.
 */
export type NumericDType =
  | 'uint8'
  | 'int8'
  | 'uint16'
  | 'int16'
  | 'uint32'
  | 'int32'
  | 'uint64'
  | 'int64'
  | 'float16'
  | 'float32'
  | 'float64'
  | 'bool';
export type DType = NumericDType | 'string' | 'null';

export type TypedArrayFor<T extends DType> = T extends 'uint8' | 'bool'
  ? Uint8Array
  : T extends 'int8'
    ? Int8Array
    : T extends 'uint16' | 'float16'
      ? Uint16Array
      : T extends 'int16'
        ? Int16Array
        : T extends 'uint32'
          ? Uint32Array
          : T extends 'int32'
            ? Int32Array
            : T extends 'uint64'
              ? BigUint64Array
              : T extends 'int64'
                ? BigInt64Array
                : T extends 'float32'
                  ? Float32Array
                  : T extends 'float64'
                    ? Float64Array
                    : T extends 'string'
                      ? Uint8Array[]
                      : Uint8Array;

export type NumericArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array;

export interface TypedArrayCtor {
  new (length: number): NumericArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): NumericArray;
  readonly BYTES_PER_ELEMENT: number;
}

export interface DTypeInfo {
  readonly name: DType;
  /** GraphPipe wire id (graphpipe.fbs `Type`). */
  readonly wireId: number;
  /** Bytes per element; 0 for string and null. */
  readonly itemSize: number;
  readonly ctor: TypedArrayCtor | undefined;
}

const info = (name: DType, wireId: number, itemSize: number, ctor: TypedArrayCtor | undefined): DTypeInfo => ({
  name,
  wireId,
  itemSize,
  ctor,
});

export const DTYPES: Readonly<Record<DType, DTypeInfo>> = {
  null: info('null', 0, 0, undefined),
  uint8: info('uint8', 1, 1, Uint8Array),
  int8: info('int8', 2, 1, Int8Array),
  uint16: info('uint16', 3, 2, Uint16Array),
  int16: info('int16', 4, 2, Int16Array),
  uint32: info('uint32', 5, 4, Uint32Array),
  int32: info('int32', 6, 4, Int32Array),
  uint64: info('uint64', 7, 8, BigUint64Array),
  int64: info('int64', 8, 8, BigInt64Array),
  float16: info('float16', 9, 2, Uint16Array),
  float32: info('float32', 10, 4, Float32Array),
  float64: info('float64', 11, 8, Float64Array),
  string: info('string', 12, 0, undefined),
  bool: info('bool', 1, 1, Uint8Array),
};

/** GraphPipe wire id → dtype (bool is never decoded: it travels as uint8). */
export const DTYPE_BY_WIRE_ID: readonly DType[] = [
  'null',
  'uint8',
  'int8',
  'uint16',
  'int16',
  'uint32',
  'int32',
  'uint64',
  'int64',
  'float16',
  'float32',
  'float64',
  'string',
];

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && Object.hasOwn(DTYPES, x);
}

export function isNumericDType(x: DType): x is NumericDType {
  return x !== 'string' && x !== 'null';
}

export function isBigIntDType(x: DType): x is 'int64' | 'uint64' {
  return x === 'int64' || x === 'uint64';
}
