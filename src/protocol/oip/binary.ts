import { ModelpipeError, quote } from '../../errors/index.js';
import { DTYPES, type DType, MAX_STRING_ELEMENTS, Tensor, formatShape, shapeSize } from '../../tensor/index.js';
import { oipFromDtype } from './datatypes.js';

/**
 * The binary tensor data extension: tensors travel raw after the JSON header,
 * little-endian, row-major, BOOL as one byte, BYTES elements as a 4-byte
 * little-endian length followed by the bytes.
 */

/** Walks the binary section of a body in order, handing out views (never copies). */
export class BinaryCursor {
  private pos: number;

  constructor(
    private readonly body: Uint8Array,
    start: number,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.body.length - this.pos;
  }

  take(size: unknown, what: string): Uint8Array {
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw new ModelpipeError('MP_ERR_OIP_BINARY', `${what}: binary_data_size must be a non-negative integer, got ${quote(size)}`);
    }
    if (size > this.remaining) {
      throw new ModelpipeError(
        'MP_ERR_OIP_BINARY',
        `${what}: binary_data_size ${size} runs past the end of the body (${this.remaining} bytes of binary data left)`,
      );
    }
    const view = this.body.subarray(this.pos, this.pos + size);
    this.pos += size;
    return view;
  }
}

/** A tensor over binary bytes: a view when aligned (Tensor.fromBytes), BYTES elements as views. */
export function tensorFromBinary(dtype: DType, shape: number[], bytes: Uint8Array, what: string): Tensor {
  const count = shapeSize(shape, `${what} shape`);
  if (dtype === 'string') {
    if (count > MAX_STRING_ELEMENTS) {
      throw new ModelpipeError('MP_ERR_WIRE_TOO_MANY', `${what}: ${count} BYTES elements, more than the ${MAX_STRING_ELEMENTS} allowed`);
    }
    const elems: Uint8Array[] = [];
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let p = 0;
    // Stops at one element past the shape's count: enough to report the mismatch.
    while (p < bytes.length && elems.length <= count) {
      if (p + 4 > bytes.length)
        throw new ModelpipeError('MP_ERR_OIP_BINARY', `${what}: BYTES element ${elems.length} has a truncated length prefix`);
      const n = dv.getUint32(p, true);
      if (p + 4 + n > bytes.length) {
        throw new ModelpipeError('MP_ERR_OIP_BINARY', `${what}: BYTES element ${elems.length} of ${n} bytes runs past binary_data_size`);
      }
      elems.push(bytes.subarray(p + 4, p + 4 + n));
      p += 4 + n;
    }
    if (elems.length !== count || p < bytes.length) {
      throw new ModelpipeError(
        'MP_ERR_OIP_BINARY',
        `${what}: shape ${formatShape(shape)} needs ${count} BYTES elements, binary data has ${p < bytes.length ? 'more' : elems.length}`,
      );
    }
    return new Tensor('string', shape, elems);
  }
  if (dtype === 'null') throw new ModelpipeError('MP_ERR_OIP_DATATYPE', `${what}: no binary form for ${dtype}`);
  const need = count * DTYPES[dtype].itemSize;
  if (bytes.length !== need) {
    throw new ModelpipeError(
      'MP_ERR_OIP_BINARY',
      `${what}: binary_data_size is ${bytes.length} bytes, shape ${formatShape(shape)} of ${oipFromDtype(dtype)} needs ${need}`,
    );
  }
  return Tensor.fromBytes(dtype, shape, bytes);
}

/** A tensor's binary form: numeric tensors as a view of their own memory; BYTES packed once. */
export function tensorToBinary(t: Tensor): Uint8Array {
  if (t.dtype !== 'string') return t.bytes();
  const elems = t.data as readonly Uint8Array[];
  let total = 0;
  for (const e of elems) total += 4 + e.length;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  let p = 0;
  for (const e of elems) {
    dv.setUint32(p, e.length, true);
    out.set(e, p + 4);
    p += 4 + e.length;
  }
  return out;
}
