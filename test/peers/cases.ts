import { DTYPES, DTYPE_BY_WIRE_ID, type DType, type NumericDType, Tensor } from '../../src/tensor/index.js';
import type { WireTensor } from './peers.js';

/** Tensors of every GraphPipe dtype with their edge values, shared by the peer tests. */

/** Every numeric GraphPipe dtype, in wire-id order. */
export const NUMERIC: NumericDType[] = DTYPE_BY_WIRE_ID.filter((d): d is NumericDType => d !== 'null' && d !== 'string');

const f32 = (...bits: number[]) => new Float32Array(new Uint32Array(bits).buffer);
const f64 = (...bits: bigint[]) => new Float64Array(new BigUint64Array(bits).buffer);

/** Edge values per dtype, as a [2, n/2] tensor (n even). */
function edges(dt: NumericDType): Tensor {
  switch (dt) {
    case 'uint8':
      return new Tensor(dt, [2, 2], new Uint8Array([0, 1, 254, 255]));
    case 'int8':
      return new Tensor(dt, [2, 2], new Int8Array([-128, -1, 0, 127]));
    case 'uint16':
      return new Tensor(dt, [2, 2], new Uint16Array([0, 1, 65534, 65535]));
    case 'int16':
      return new Tensor(dt, [2, 2], new Int16Array([-32768, -1, 0, 32767]));
    case 'uint32':
      return new Tensor(dt, [2, 2], new Uint32Array([0, 1, 2 ** 32 - 2, 2 ** 32 - 1]));
    case 'int32':
      return new Tensor(dt, [2, 2], new Int32Array([-(2 ** 31), -1, 0, 2 ** 31 - 1]));
    case 'uint64':
      return new Tensor(dt, [2, 2], new BigUint64Array([0n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n]));
    case 'int64':
      return new Tensor(dt, [2, 3], new BigInt64Array([-(2n ** 63n), -(2n ** 53n) - 1n, -1n, 0n, 2n ** 53n + 1n, 2n ** 63n - 1n]));
    case 'float16':
      // 0, -0, +Inf, -Inf, NaN with a payload, smallest subnormal, largest finite, 1.
      return new Tensor(dt, [2, 4], new Uint16Array([0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e01, 0x0001, 0x7bff, 0x3c00]));
    case 'float32':
      return new Tensor(dt, [2, 4], f32(0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00123, 0xffc00001, 0x00000001, 0x7f7fffff));
    case 'float64':
      return new Tensor(
        dt,
        [2, 4],
        f64(
          0n,
          0x8000000000000000n,
          0x7ff0000000000000n,
          0xfff0000000000000n,
          0x7ff8000000000123n,
          0xfff8000000000001n,
          1n,
          0x7fefffffffffffffn,
        ),
      );
    default:
      throw new Error(`no edge values for ${dt}`);
  }
}

/** Strings: empty, ASCII, NUL inside, invalid UTF-8, multi-byte. */
export function strings(): Tensor {
  const enc = new TextEncoder();
  return Tensor.fromStrings(
    [
      new Uint8Array(0),
      enc.encode('a'),
      enc.encode('a\0b'),
      new Uint8Array([0xff, 0xfe, 0x80]),
      enc.encode('ünïcødé ☃'),
      enc.encode('x'.repeat(300)),
    ],
    [2, 3],
  );
}

/** Every dtype's edge tensor, strings included. */
export function edgeCases(): { name: string; t: Tensor }[] {
  return [...NUMERIC.map((dt) => ({ name: dt, t: edges(dt) })), { name: 'string', t: strings() }];
}

/** A large float32 tensor (rows × 1024) with distinct values. */
export function large(rows: number): Tensor {
  const a = new Float32Array(rows * 1024);
  for (let i = 0; i < a.length; i++) a[i] = i * 0.5 - 7;
  return new Tensor('float32', [rows, 1024], a);
}

export function toWire(t: Tensor): WireTensor {
  if (t.dtype === 'string')
    return { type: 12, shape: [...t.shape], strings: (t.data as Uint8Array[]).map((s) => Buffer.from(s).toString('base64')) };
  return { type: DTYPES[t.dtype].wireId, shape: [...t.shape], data: Buffer.from(t.bytes()).toString('base64') };
}

/** A comparable form of a tensor or a wire tensor: dtype, shape, and bytes or strings as hex. */
export function canon(x: Tensor | WireTensor): { dtype: DType; shape: number[]; hex: string | string[] } {
  if (x instanceof Tensor) {
    return {
      dtype: x.dtype,
      shape: [...x.shape],
      hex:
        x.dtype === 'string' ? (x.data as Uint8Array[]).map((s) => Buffer.from(s).toString('hex')) : Buffer.from(x.bytes()).toString('hex'),
    };
  }
  const dtype = DTYPE_BY_WIRE_ID[x.type] as DType;
  return {
    dtype,
    shape: [...x.shape],
    hex:
      dtype === 'string'
        ? (x.strings ?? []).map((s) => Buffer.from(s, 'base64').toString('hex'))
        : Buffer.from(x.data ?? '', 'base64').toString('hex'),
  };
}
