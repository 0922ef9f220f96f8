/*
 * The few protobuf wire operations an OTLP span needs, into one growing Buffer.
 * A nested message's length is written in one reserved byte and moved up when it
 * needs more (spans are ~150-300 bytes; their key/values fit in one), which is what
 * the official serializer does too: the output is canonical, byte for byte.
 */

import { nanosWithin } from '../span-time.js';

const TWO32 = 0x1_0000_0000;

/*
 * Span names, attribute keys and most attribute values repeat (a few dozen strings
 * in a server's life), and each Buffer.write is a call into C++ that costs more than
 * copying the few bytes it writes. So short strings are encoded once and copied in a
 * loop; the cache stops growing at CACHE_MAX entries (a request id in an attribute
 * would otherwise fill it).
 */
const CACHE_MAX = 4096;
export const SHORT = 48;
const utf8 = new Map<string, Uint8Array>();

export function encoded(s: string): Uint8Array | undefined {
  let b = utf8.get(s);
  if (b === undefined && utf8.size < CACHE_MAX) {
    b = Buffer.from(s, 'utf8');
    utf8.set(s, b);
  }
  return b;
}

/** Bytes of a non-negative integer below 2^53 as a varint. */
export function varintLength(v: number): number {
  let n = 1;
  for (; v >= 0x80; v = Math.floor(v / 0x80)) n++;
  return n;
}

function viewOf(buf: Buffer): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

export class ProtoWriter {
  buf: Buffer;
  pos: number;
  /** `buf` as a DataView: four bytes per copy in copyAt (a byte loop, or charCodeAt per byte, costs several times more). */
  private view: DataView;
  /** The whole second nanosAt wrote last, and its nanoseconds' 32-bit words. */
  private second = Number.NaN; // no second yet (NaN equals none, so -1, a second before 1970, is not mistaken for it)
  private secondLow = 0;
  private secondHigh = 0;

  /** `headroom`: bytes left free at the start, for a head written once the rest is known. */
  constructor(
    size = 64 * 1024,
    private readonly headroom = 0,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(size, headroom + 64));
    this.view = viewOf(this.buf);
    this.pos = headroom;
  }

  /** Empties the writer, keeping its memory. */
  reset(): void {
    this.pos = this.headroom;
  }

  /** Empties the writer and goes on in `buf` (the old memory now belongs to the caller). */
  restart(buf: Buffer): void {
    this.buf = buf;
    this.view = viewOf(buf);
    this.pos = this.headroom;
  }

  /** A copy of what was written (the writer's memory is reused). */
  take(): Buffer {
    // Buffer.copy is a memcpy; Buffer.from(a Buffer's subarray) copies it as an array-like, byte by byte (~3 ns a byte).
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }

  /** Room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = viewOf(next);
  }

  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  /** A non-negative integer below 2^53, or a negative one as its 64-bit two's complement (10 bytes). */
  varint(v: number): void {
    this.ensure(10);
    if (v < 0) {
      let b = BigInt.asUintN(64, BigInt(v));
      while (b >= 0x80n) {
        this.buf[this.pos++] = Number(b & 0x7fn) | 0x80;
        b >>= 7n;
      }
      this.buf[this.pos++] = Number(b);
      return;
    }
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  string(field: number, s: string): void {
    this.tag(field, 2);
    this.ensure(s.length * 3 + 2);
    const b = s.length <= SHORT ? encoded(s) : undefined;
    if (b !== undefined && b.length < 0x80) {
      this.buf[this.pos] = b.length;
      this.pos = this.put(b, this.pos + 1);
      return;
    }
    const at = this.begin();
    this.pos += this.buf.write(s, this.pos, 'utf8');
    this.end(at);
  }

  /** Copies a short cached string's bytes to `p` (room ensured by the caller); the position after them. */
  put(b: Uint8Array, p: number): number {
    // TypedArray set, not a JS byte loop: a request's spans encoded ~20 % faster in-process, and
    // the server's CPU no worse (bench/RESULTS.md, sixth round; names, keys and values of 1–48 bytes).
    this.buf.set(b, p);
    return p + b.length;
  }

  /**
   * A span's fields after its attributes when nothing was dropped and it has no events,
   * links or status message: the three dropped counts (0), its status {code} and flags.
   */
  plainTail(statusCode: number, flags: number): void {
    this.ensure(16);
    const buf = this.buf;
    const p = this.pos;
    buf[p] = 0x50; // dropped_attributes_count
    buf[p + 1] = 0;
    buf[p + 2] = 0x60; // dropped_events_count
    buf[p + 3] = 0;
    buf[p + 4] = 0x70; // dropped_links_count
    buf[p + 5] = 0;
    buf[p + 6] = 0x7a; // status
    buf[p + 7] = 2;
    buf[p + 8] = 0x18; // Status.code
    buf[p + 9] = statusCode;
    buf[p + 10] = 0x85; // flags (field 16, fixed32): a two-byte tag
    buf[p + 11] = 0x01;
    this.u32(p + 12, flags);
    this.pos = p + 16;
  }

  /** An id field (trace_id, span_id, parent_span_id) from its id bytes (span-ids.ts). */
  idBytes(field: number, id: string): void {
    this.tag(field, 2);
    this.ensure(id.length + 1);
    this.buf[this.pos] = id.length;
    this.idAt(this.pos + 1, id, id.length);
    this.pos += id.length + 1;
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** The first `n` bytes of `bytes`. */
  rawPrefix(bytes: Uint8Array, n: number): void {
    this.raw(n === bytes.length ? bytes : bytes.subarray(0, n));
  }

  fixed32(field: number, v: number): void {
    this.tag(field, 5);
    this.ensure(4);
    this.u32(this.pos, v);
    this.pos += 4;
  }

  double(field: number, v: number): void {
    this.tag(field, 1);
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  /** Epoch milliseconds as a fixed64 field of nanoseconds. */
  nanos(field: number, ms: number): void {
    this.tag(field, 1);
    this.ensure(8);
    this.nanosAt(this.pos, ms);
    this.pos += 8;
  }

  /**
   * Epoch milliseconds as fixed64 nanoseconds at `p` (room ensured), also over bytes
   * already written (span-family.ts).
   */
  nanosAt(p: number, ms: number): void {
    const secs = Math.floor(ms / 1000);
    if (secs !== this.second) this.toSecond(secs);
    // The second's nanoseconds as two 32-bit words, plus those within it (below 2^30): one carry at most.
    const low = this.secondLow + nanosWithin(ms, secs);
    const carry = low >= TWO32 ? 1 : 0;
    this.u32(p, low - carry * TWO32);
    this.u32(p + 4, this.secondHigh + carry);
  }

  /**
   * Sets `second` and its nanoseconds (secs × 10^9) as low and high 32-bit words: a
   * request's eight times mostly fall in one second. The seconds are split at 2^16 so
   * every product stays an exact double (ns since 1970 pass 2^53). Integer halves by
   * floor, not %: a double's % is a call to fmod.
   */
  private toSecond(secs: number): void {
    const secsHi = Math.floor(secs / 0x10000);
    const lo16 = (secs - secsHi * 0x10000) * 1e9;
    const hi = secsHi * 1e9; // × 2^16
    const hiHi = Math.floor(hi / 0x10000);
    const low = (hi - hiHi * 0x10000) * 0x10000 + lo16;
    const carry = Math.floor(low / TWO32);
    this.second = secs;
    this.secondLow = low - carry * TWO32;
    this.secondHigh = hiHi + carry;
  }

  /** Copies `n` bytes (a multiple of 4) written at `from` over those at `to` (not overlapping). */
  copyAt(to: number, from: number, n: number): void {
    const v = this.view;
    for (let i = 0; i < n; i += 4) v.setUint32(to + i, v.getUint32(from + i));
  }

  /** Id bytes (span-ids.ts) over `n` bytes already written at `p`. */
  idAt(p: number, id: string, n: number): void {
    const buf = this.buf;
    for (let i = 0; i < n; i++) buf[p + i] = id.charCodeAt(i);
  }

  /** A little-endian uint32 at `p` (room ensured): one DataView store (writeUInt32LE checks its range on every call). */
  private u32(p: number, v: number): void {
    this.view.setUint32(p, v >>> 0, true);
  }

  /** Reserves a nested message's length byte; returns its place for end(). */
  begin(): number {
    this.ensure(1);
    return this.pos++;
  }

  /** begin() for a message expected to take 128 bytes or more: two length bytes reserved; end it with endWide(). */
  beginWide(): number {
    this.ensure(2);
    this.pos += 2;
    return this.pos - 2;
  }

  /** Writes the length of the message begun at `at`, moving it up when the length takes more than one byte. */
  end(at: number): void {
    this.length(at, 1);
  }

  /** end() for beginWide(); the message's length. */
  endWide(at: number): number {
    return this.length(at, 2);
  }

  /** Writes the length of the message after `reserved` bytes at `at`, moving the message when its varint takes another number of bytes. */
  private length(at: number, reserved: number): number {
    const len = this.pos - at - reserved;
    if (len < 0x80 && reserved === 1) {
      this.buf[at] = len;
      return len;
    }
    if (len >= 0x80 && len < 0x4000 && reserved === 2) {
      this.buf[at] = (len & 0x7f) | 0x80;
      this.buf[at + 1] = len >>> 7;
      return len;
    }
    const n = varintLength(len);
    if (n > reserved) this.ensure(n - reserved);
    this.buf.copyWithin(at + n, at + reserved, this.pos);
    this.pos += n - reserved;
    let v = len;
    let p = at;
    while (v >= 0x80) {
      this.buf[p++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[p] = v;
    return len;
  }
}
