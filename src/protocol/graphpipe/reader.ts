import { type ErrorCode, ModelpipeError } from '../../errors/index.js';

/**
 * A verifying flatbuffer reader for untrusted bytes. Every access checks bounds
 * before it reads, so a hostile message yields a ModelpipeError with a stable
 * MP_ERR_WIRE_* code and the position involved, never a RangeError from deep
 * inside, and no allocation is sized by a number taken from the message unless
 * that number has been checked against the message length first.
 *
 * Deliberately lenient where real writers differ: strings need no NUL terminator
 * (graphpipe-py writes string_val with CreateByteVector) and positions need no
 * alignment (graphpipe-py aligns byte vectors to 1).
 */
export class WireReader {
  readonly bytes: Uint8Array;
  private readonly dv: DataView;
  readonly length: number;
  // ignoreBOM: a leading U+FEFF is content, not a marker to strip (names must round-trip).
  private static readonly dec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.length = bytes.byteLength;
  }

  fail(code: ErrorCode, what: string, at?: number): never {
    throw new ModelpipeError(code, `malformed GraphPipe message: ${what}${at === undefined ? '' : ` (at byte ${at} of ${this.length})`}`);
  }

  private need(pos: number, n: number, what: string): void {
    if (!(pos >= 0 && n >= 0 && pos + n <= this.length)) {
      this.fail(pos + n > this.length ? 'MP_ERR_WIRE_TRUNCATED' : 'MP_ERR_WIRE_BAD_OFFSET', `${what} needs ${n} bytes`, pos);
    }
  }

  u8(pos: number): number {
    return this.dv.getUint8(pos);
  }
  u32(pos: number, what: string): number {
    this.need(pos, 4, what);
    return this.dv.getUint32(pos, true);
  }

  /** Follows the uoffset stored at `pos` and returns its target, checked in bounds. */
  follow(pos: number, what: string): number {
    const off = this.u32(pos, what);
    const target = pos + off;
    if (off === 0 || target + 4 > this.length) this.fail('MP_ERR_WIRE_BAD_OFFSET', `${what} points to ${target}, outside the message`, pos);
    return target;
  }

  /** The root table of the message. */
  root(what: string): Table {
    if (this.length < 8) this.fail('MP_ERR_WIRE_TRUNCATED', `${this.length} bytes is too short for a ${what}`);
    return this.table(this.follow(0, `root offset of ${what}`), what);
  }

  table(pos: number, what: string): Table {
    this.need(pos, 4, `${what} table`);
    const vt = pos - this.dv.getInt32(pos, true);
    if (vt < 0 || vt + 4 > this.length) this.fail('MP_ERR_WIRE_BAD_VTABLE', `${what} vtable at ${vt} is outside the message`, pos);
    const vtSize = this.dv.getUint16(vt, true);
    const inline = this.dv.getUint16(vt + 2, true);
    if (vtSize < 4 || vtSize % 2 !== 0 || vt + vtSize > this.length) {
      this.fail('MP_ERR_WIRE_BAD_VTABLE', `${what} vtable size ${vtSize} is invalid`, vt);
    }
    if (inline < 4 || pos + inline > this.length)
      this.fail('MP_ERR_WIRE_BAD_VTABLE', `${what} table size ${inline} runs past the message`, pos);
    return new Table(this, pos, vt, vtSize, inline, what);
  }

  /** A vector's element count and first element position, checked against the message. */
  vector(pos: number, elemSize: number, what: string): { n: number; start: number } {
    const n = this.u32(pos, `${what} length`);
    const start = pos + 4;
    if (n * elemSize > this.length - start) {
      this.fail('MP_ERR_WIRE_TRUNCATED', `${what} claims ${n} elements of ${elemSize} bytes, more than the message holds`, pos);
    }
    return { n, start };
  }

  /** Bytes of a [ubyte] vector or string, as a view. */
  byteVector(pos: number, what: string): Uint8Array {
    const { n, start } = this.vector(pos, 1, what);
    return this.bytes.subarray(start, start + n);
  }

  text(pos: number, what: string): string {
    try {
      return WireReader.dec.decode(this.byteVector(pos, what));
    } catch (err: unknown) {
      if (err instanceof ModelpipeError) throw err;
      return this.fail('MP_ERR_WIRE_BAD_UTF8', `${what} is not valid UTF-8`, pos);
    }
  }

  i64(pos: number): bigint {
    return this.dv.getBigInt64(pos, true);
  }
}

/** Whether one of the first `n` tables is at `pos`. */
function holds(tables: readonly Table[], n: number, pos: number): boolean {
  for (let j = 0; j < n; j++) if ((tables[j] as Table).pos === pos) return true;
  return false;
}

/** A verified table: field accessors check the vtable entry against the table size. */
export class Table {
  constructor(
    private readonly r: WireReader,
    readonly pos: number,
    private readonly vt: number,
    private readonly vtSize: number,
    private readonly inline: number,
    readonly what: string,
  ) {}

  /** Position of a field, or 0 if absent. `size` is the field's inline size. */
  private field(slot: number, size: number, name: string): number {
    const entry = 4 + 2 * slot;
    if (entry + 2 > this.vtSize) return 0;
    const off = this.r.bytes[this.vt + entry]! | (this.r.bytes[this.vt + entry + 1]! << 8);
    if (off === 0) return 0;
    if (off < 4 || off + size > this.inline) {
      this.r.fail('MP_ERR_WIRE_BAD_VTABLE', `${this.what}.${name} field offset ${off} lies outside its table`, this.vt);
    }
    return this.pos + off;
  }

  u8(slot: number, name: string, dflt = 0): number {
    const p = this.field(slot, 1, name);
    return p === 0 ? dflt : this.r.u8(p);
  }

  i64(slot: number, name: string): bigint {
    const p = this.field(slot, 8, name);
    return p === 0 ? 0n : this.r.i64(p);
  }

  /** Target of an offset field, or 0 if absent. */
  offset(slot: number, name: string): number {
    const p = this.field(slot, 4, name);
    return p === 0 ? 0 : this.r.follow(p, `${this.what}.${name}`);
  }

  text(slot: number, name: string): string {
    const p = this.offset(slot, name);
    return p === 0 ? '' : this.r.text(p, `${this.what}.${name}`);
  }

  /**
   * An offset vector's length and first slot (n = 0 when absent), checked against the
   * message but not followed: callers refuse a count over their limit before any
   * per-element work, and follow slot i with `r.follow(start + 4 * i, …)`.
   */
  offsetVector(slot: number, name: string, max: number): { n: number; start: number } {
    const p = this.offset(slot, name);
    if (p === 0) return { n: 0, start: 0 };
    const v = this.r.vector(p, 4, `${this.what}.${name}`);
    if (v.n > max) this.r.fail('MP_ERR_WIRE_TOO_MANY', `${this.what}.${name} has ${v.n} entries, more than the ${max} allowed`, p);
    return v;
  }

  /**
   * Verified positions of the tables an offset vector points to, at most `max` of them,
   * each a different table: a table referenced twice would be decoded twice (with
   * 16 M references to one table, 16 M decodes of it), and no message needs that.
   */
  tables(slot: number, name: string, max: number): Table[] {
    const { n, start } = this.offsetVector(slot, name, max);
    const out: Table[] = new Array<Table>(n);
    // The usual few tensors are checked pairwise; a set keeps long vectors linear.
    const seen = n > 16 ? new Set<number>() : undefined;
    for (let i = 0; i < n; i++) {
      const what = `${this.what}.${name}[${i}]`;
      const pos = this.r.follow(start + 4 * i, what);
      if (seen ? seen.has(pos) : holds(out, i, pos)) {
        this.r.fail('MP_ERR_WIRE_SHARED_TABLE', `${what} is a table the vector already holds`, start + 4 * i);
      }
      seen?.add(pos);
      out[i] = this.r.table(pos, what);
    }
    return out;
  }

  /** A vector of strings, at most `max` of them (checked before any is decoded). */
  texts(slot: number, name: string, max: number): string[] {
    const { n, start } = this.offsetVector(slot, name, max);
    const out: string[] = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const what = `${this.what}.${name}[${i}]`;
      out[i] = this.r.text(this.r.follow(start + 4 * i, what), what);
    }
    return out;
  }

  /** int64 vector as numbers; values outside [min, 2^53) are rejected. */
  int64s(slot: number, name: string, min: number): number[] {
    const p = this.offset(slot, name);
    if (p === 0) return [];
    const { n, start } = this.r.vector(p, 8, `${this.what}.${name}`);
    const out: number[] = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const v = this.r.i64(start + 8 * i);
      if (v < BigInt(min) || v > BigInt(Number.MAX_SAFE_INTEGER)) {
        this.r.fail('MP_ERR_WIRE_SHAPE', `${this.what}.${name}[${i}] = ${v} is out of range`, start + 8 * i);
      }
      out[i] = Number(v);
    }
    return out;
  }
}
