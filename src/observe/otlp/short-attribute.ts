import { AttributePairs } from './attribute-pairs.js';
import { type ProtoWriter, SHORT, encoded, varintLength } from './proto-writer.js';

/*
 * Span.attributes' KeyValue {key, value: AnyValue {string_value | int_value}} for a
 * short key and a short string or a non-negative integer — most request-path
 * attributes — written as the general path would (one-byte lengths) without its
 * nested begin/end, and the whole field copied when it repeats (attribute-pairs.ts).
 */
export class ShortAttributes {
  private readonly pairs = new AttributePairs();

  /** Writes the field; false (nothing written) when the pair is not that short. */
  write(w: ProtoWriter, key: string, v: string | number): boolean {
    const known = this.pairs.get(key, v);
    if (known !== undefined) {
      w.raw(known);
      return true;
    }
    const start = w.pos;
    if (!writeShort(w, key, v)) return false;
    this.pairs.remember(key, v, w.buf, start, w.pos);
    return true;
  }
}

function writeShort(w: ProtoWriter, key: string, v: string | number): boolean {
  const k = key.length <= SHORT ? encoded(key) : undefined;
  if (k === undefined) return false;
  let vb: Uint8Array | undefined;
  let any: number; // AnyValue's length
  if (typeof v === 'string') {
    vb = v.length <= SHORT ? encoded(v) : undefined;
    if (vb === undefined || vb.length >= 0x80) return false;
    any = 2 + vb.length;
  } else {
    if (v >= 2 ** 49) return false;
    any = 1 + varintLength(v);
  }
  const kv = 2 + k.length + 2 + any;
  if (kv >= 0x80) return false;
  w.ensure(kv + 2);
  const buf = w.buf;
  let p = w.pos;
  buf[p++] = 0x4a; // field 9 (Span.attributes), length-delimited
  buf[p++] = kv;
  buf[p++] = 0x0a; // KeyValue.key
  buf[p++] = k.length;
  p = w.put(k, p);
  buf[p++] = 0x12; // KeyValue.value
  buf[p++] = any;
  if (vb === undefined) {
    buf[p++] = 0x18; // AnyValue.int_value
    w.pos = p;
    w.varint(v as number);
    return true;
  }
  buf[p++] = 0x0a; // AnyValue.string_value
  buf[p++] = vb.length;
  w.pos = w.put(vb, p);
  return true;
}
