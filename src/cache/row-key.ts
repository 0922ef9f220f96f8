import { createHash } from 'node:crypto';
import type { PreparedCall } from '../scheduling/call.js';
import type { NumericArray, Tensor } from '../tensor/index.js';

/**
 * Cache keys, one per row along dimension 0. A key covers everything that can change
 * a row's result: the model's identity (file hash, name, version), the config string,
 * the outputs asked for, and for every input its name, dtype, non-batch dimensions
 * and that row's bytes. String tensors hash only the row's own elements, each
 * length-prefixed so ["ab","c"] and ["a","bc"] differ. (graphpipe-go hashed the
 * whole string tensor for every row and left config out: both were bugs.)
 */
export function rowKeys(identity: string, call: PreparedCall, rows: number): Buffer[] {
  const names = [...call.inputs.keys()].sort();
  const head = createHash('sha256');
  head.update(identity);
  head.update('\0');
  head.update(JSON.stringify([call.config, call.outputNames]));
  for (const n of names) {
    const t = call.inputs.get(n) as Tensor;
    head.update(JSON.stringify([n, t.dtype, t.shape.slice(1)]));
  }
  const keys: Buffer[] = [];
  for (let r = 0; r < rows; r++) {
    const h = head.copy();
    for (const n of names) hashRow(h, call.inputs.get(n) as Tensor, r, rows);
    keys.push(h.digest());
  }
  return keys;
}

const len = Buffer.alloc(4);

function hashRow(h: ReturnType<typeof createHash>, t: Tensor, r: number, rows: number): void {
  const per = t.size / rows;
  if (Array.isArray(t.data)) {
    const strs = t.data as readonly Uint8Array[];
    for (let i = r * per; i < (r + 1) * per; i++) {
      const s = strs[i] as Uint8Array;
      len.writeUInt32LE(s.length);
      h.update(len);
      h.update(s);
    }
    return;
  }
  const d = t.data as NumericArray;
  const item = d.BYTES_PER_ELEMENT;
  h.update(new Uint8Array(d.buffer, d.byteOffset + r * per * item, per * item));
}
