import { ModelpipeError } from '../errors/index.js';
import type { DType, NumericDType } from './dtype.js';
import { Tensor } from './tensor.js';

/** NumPy .npy (format 1.0/2.0/3.0), little-endian, C order: enough to move tensors to and from Python tools. */
const DESCR: Record<string, NumericDType> = {
  '<f2': 'float16',
  '<f4': 'float32',
  '<f8': 'float64',
  '|i1': 'int8',
  '<i2': 'int16',
  '<i4': 'int32',
  '<i8': 'int64',
  '|u1': 'uint8',
  '<u2': 'uint16',
  '<u4': 'uint32',
  '<u8': 'uint64',
  '|b1': 'bool',
};
const BY_DTYPE = Object.fromEntries(Object.entries(DESCR).map(([k, v]) => [v, k])) as Record<string, string>;

export function parseNpy(buf: Uint8Array): Tensor {
  const bad = (why: string): never => {
    throw new ModelpipeError('MP_ERR_BAD_REQUEST', `not a readable .npy file: ${why}`);
  };
  if (buf.length < 10 || buf[0] !== 0x93 || String.fromCharCode(...buf.subarray(1, 6)) !== 'NUMPY') bad('missing magic');
  const major = buf[6] as number;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + hlen > buf.length) bad('header runs past the end');
  const header = new TextDecoder().decode(buf.subarray(start, start + hlen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || shapeText === undefined) return bad('header lacks descr or shape');
  if (fortran === 'True') bad('Fortran order is not supported');
  const dtype = DESCR[descr] ?? bad(`dtype ${descr} is not supported`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const data = buf.subarray(start + hlen);
  return Tensor.fromBytes(dtype, shape, data.slice());
}

export function toNpy(t: Tensor): Uint8Array {
  const descr = BY_DTYPE[t.dtype as DType];
  if (descr === undefined) throw new ModelpipeError('MP_ERR_TENSOR_DTYPE', `${t.dtype} tensors cannot be written as .npy`);
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + t.byteLength);
  out.set([0x93, ...new TextEncoder().encode('NUMPY'), 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(t.bytes(), 10 + header.length);
  return out;
}
