/**
 * A front-to-back flatbuffer writer. The official builders write back to front, which
 * forces every payload to be copied into the builder. Writing front to back lets the
 * large tensor payloads come last, as separate chunks that are never copied: the
 * result is a list of buffers for a scatter-gather write (`writev`), and a single
 * buffer costs exactly one copy of each payload.
 *
 * Flatbuffers rules this relies on: offsets from tables and vectors (uoffset) point
 * forward, so parents are written before children and patched when the child lands;
 * a vtable may sit anywhere (its offset is signed), so each table's vtable is written
 * just before it.
 *
 * Invariant: every patch site lies before the first external payload, so owned
 * positions and message positions coincide wherever we patch.
 */
import { ModelpipeError } from '../../errors/index.js';

export type FieldKind = 'u8' | 'i64' | 'off';

export interface TableSlots {
  /** Message position of the table. */
  pos: number;
  /** Message position of each slot's field (undefined when the slot is absent). */
  field: (number | undefined)[];
}

const SIZE: Record<FieldKind, number> = { u8: 1, i64: 8, off: 4 };

/** Payloads are aligned to this in the message, so decoders can view them in place. */
export const PAYLOAD_ALIGN = 64;

interface Layout {
  fieldOff: number[];
  inline: number;
  vtSize: number;
  hasI64: boolean;
}

/** Table layouts by slot kinds: a handful of shapes, computed once each (not per message). */
const layouts = new Map<number, Layout>();

const CODE: Record<FieldKind, number> = { u8: 1, i64: 2, off: 3 };

function layoutOf(slots: readonly (FieldKind | undefined)[]): Layout {
  // Two bits a slot (absent, u8, i64, off) and the slot count: a number, no string to build.
  let key = slots.length;
  for (const k of slots) key = key * 4 + (k === undefined ? 0 : CODE[k]);
  const known = layouts.get(key);
  if (known) return known;
  // Inline layout: soffset, then fields by descending size so each is naturally aligned.
  const order = slots
    .map((k, i) => ({ k, i }))
    .filter((x): x is { k: FieldKind; i: number } => x.k !== undefined)
    .sort((a, b) => SIZE[b.k] - SIZE[a.k]);
  const hasI64 = order.some((x) => x.k === 'i64');
  const fieldOff: number[] = new Array<number>(slots.length).fill(0);
  let off = hasI64 ? 8 : 4; // an i64 first needs 8-alignment inside an 8-aligned table
  for (const { k, i } of order) {
    off = Math.ceil(off / SIZE[k]) * SIZE[k];
    fieldOff[i] = off;
    off += SIZE[k];
  }
  const layout = { fieldOff, inline: Math.ceil(off / 4) * 4, vtSize: 4 + 2 * slots.length, hasI64 };
  layouts.set(key, layout);
  return layout;
}

export class WireWriter {
  private buf: Uint8Array;
  private dv: DataView;
  private len = 0;
  private readonly payloads: { at: number; bytes: Uint8Array }[] = [];
  private payloadBytes = 0;
  private static readonly enc = new TextEncoder();

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.dv = new DataView(this.buf.buffer);
  }

  /** Current message position. */
  get pos(): number {
    return this.len + this.payloadBytes;
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  /** Pads with zeros until (pos + extra) is a multiple of `align`. */
  pad(align: number, extra = 0): void {
    const n = (align - ((this.pos + extra) % align)) % align;
    this.ensure(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v;
  }
  u16(v: number): void {
    this.ensure(2);
    this.dv.setUint16(this.len, v, true);
    this.len += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.dv.setUint32(this.len, v, true);
    this.len += 4;
  }
  i64(v: number | bigint): void {
    this.ensure(8);
    this.dv.setBigInt64(this.len, BigInt(v), true);
    this.len += 8;
  }
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** Points the uoffset at `fieldPos` to `target` (which must lie after it). */
  patch(fieldPos: number, target: number): void {
    this.dv.setUint32(fieldPos, target - fieldPos, true);
  }
  setU8(fieldPos: number, v: number): void {
    this.buf[fieldPos] = v;
  }
  setI64(fieldPos: number, v: number | bigint): void {
    this.dv.setBigInt64(fieldPos, BigInt(v), true);
  }

  /**
   * Writes a vtable and a zero-filled table for the given slots (undefined = absent)
   * and returns where each field lives, for the caller to fill in or patch.
   */
  table(slots: readonly (FieldKind | undefined)[]): TableSlots {
    const { fieldOff, inline, vtSize, hasI64 } = layoutOf(slots);
    // vtable (2-aligned), then the table at 4 or 8 alignment.
    this.pad(2);
    const vtPos = this.pos;
    this.u16(vtSize);
    this.u16(inline);
    for (const o of fieldOff) this.u16(o);
    this.pad(hasI64 ? 8 : 4);
    const tPos = this.pos;
    this.ensure(inline);
    this.buf.fill(0, this.len, this.len + inline);
    this.dv.setInt32(this.len, tPos - vtPos, true);
    this.len += inline;
    return { pos: tPos, field: slots.map((k, i) => (k === undefined ? undefined : tPos + (fieldOff[i] as number))) };
  }

  /** Writes a string (length, UTF-8 or raw bytes, NUL) and returns its position. */
  string(s: string | Uint8Array): number {
    const bytes = typeof s === 'string' ? WireWriter.enc.encode(s) : s;
    this.pad(4);
    const p = this.pos;
    this.u32(bytes.length);
    this.raw(bytes);
    this.u8(0);
    return p;
  }

  /** Writes a vector of int64 and returns its position. */
  int64Vector(values: readonly number[]): number {
    this.pad(8, 4);
    const p = this.pos;
    this.u32(values.length);
    for (const v of values) this.i64(v);
    return p;
  }

  /** Reserves a vector of `n` uoffsets; returns the vector's position and each element's position. */
  offsetVector(n: number): { pos: number; elems: number[] } {
    this.pad(4);
    const p = this.pos;
    this.u32(n);
    const elems: number[] = [];
    for (let i = 0; i < n; i++) {
      elems.push(this.pos);
      this.u32(0);
    }
    return { pos: p, elems };
  }

  /** A vector of strings, each patched into its slot. */
  stringVector(values: readonly (string | Uint8Array)[]): number {
    const v = this.offsetVector(values.length);
    values.forEach((s, i) => {
      this.patch(v.elems[i] as number, this.string(s));
    });
    return v.pos;
  }

  /**
   * Appends a [uint8] vector whose bytes are an external payload, aligned to
   * PAYLOAD_ALIGN. The payload is referenced, not copied. Returns the vector position.
   */
  payloadVector(bytes: Uint8Array): number {
    this.pad(PAYLOAD_ALIGN, 4);
    const p = this.pos;
    this.u32(bytes.length);
    if (bytes.length > 0) {
      this.payloads.push({ at: this.len, bytes });
      this.payloadBytes += bytes.length;
    }
    return p;
  }

  /** The message as chunks for a scatter-gather write: small owned pieces between payloads. */
  chunks(): Uint8Array[] {
    const out: Uint8Array[] = [];
    let from = 0;
    for (const { at, bytes } of this.payloads) {
      if (at > from) out.push(this.buf.subarray(from, at));
      out.push(bytes);
      from = at;
    }
    if (this.len > from) out.push(this.buf.subarray(from, this.len));
    return out;
  }

  /**
   * Writes the message into caller-owned memory (a reused buffer skips the
   * allocation and first-touch page faults); returns the bytes written.
   */
  finishInto(target: Uint8Array): number {
    const total = this.pos;
    if (target.length < total) {
      throw new ModelpipeError('MP_ERR_WIRE_TOO_LARGE', `message needs ${total} bytes, target has ${target.length}`);
    }
    let o = 0;
    for (const c of this.chunks()) {
      target.set(c, o);
      o += c.length;
    }
    return total;
  }

  /** The message as one buffer: one allocation, one copy of each payload. */
  finish(): Uint8Array {
    if (this.payloads.length === 0) return this.buf.subarray(0, this.len);
    const total = this.pos;
    // allocUnsafeSlow: no zero-fill, and its own ArrayBuffer at offset 0 so the
    // 64-byte payload alignment holds in memory too.
    const out = Buffer.allocUnsafeSlow(total);
    let o = 0;
    for (const c of this.chunks()) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}
