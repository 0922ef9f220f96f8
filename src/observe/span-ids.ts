import { randomFillSync } from 'node:crypto';

/*
 * Trace and span ids as a span holds them: one-byte strings, one char per id byte
 * (16 for a trace, 8 for a span). A child shares its parent's trace id string, the
 * OTLP protobuf encoder copies the char codes as bytes, and the hex strings that the
 * API's SpanContext and a traceparent carry are made only when something asks for
 * them: making, then parsing back, two hex strings per span cost more than recording
 * the span. Numbers would not do: a 32-bit word is no small integer to V8, so every
 * word field would be a heap number of its own.
 */

// A getrandom costs ~10 µs whatever its size up to 64 KiB (measured here: 4 KiB 10 µs,
// 64 KiB 19 µs), so one call per 64 KiB: ~14 ns of ids per request instead of ~120.
const POOL = 64 * 1024;
let pool = '';
let at = POOL;

/** `n` random id bytes (never all zero: W3C's invalid id), cut from a pool refilled by one getrandom per 64 KiB. */
export function randomIdBytes(n: number): string {
  for (;;) {
    if (at + n > pool.length) {
      pool = randomFillSync(Buffer.allocUnsafe(POOL)).toString('latin1');
      at = 0;
    }
    const id = pool.slice(at, at + n);
    at += n;
    for (let i = 0; i < n; i++) if (id.charCodeAt(i) !== 0) return id;
    // all zero, at 2^-64 odds: draw again rather than ship it
  }
}

const BYTE_HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Id bytes as lowercase hex (a SpanContext's traceId or spanId). */
export function idHex(bytes: string): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += BYTE_HEX[bytes.charCodeAt(i) & 0xff] as string;
  return s;
}

/** Hex digit values by char code (-1: not a hex digit). */
const HEX_DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX_DIGIT['0123456789abcdef'.charCodeAt(i)] = i;
  HEX_DIGIT['0123456789ABCDEF'.charCodeAt(i)] = i;
}

/** Id bytes from the hex of a valid SpanContext (its digits checked upstream; a stray one reads as 0). */
export function hexIdBytes(hex: string): string {
  let s = '';
  for (let i = 0; i + 1 < hex.length; i += 2) {
    const hi = Math.max(HEX_DIGIT[hex.charCodeAt(i) & 0x7f] as number, 0);
    const lo = Math.max(HEX_DIGIT[hex.charCodeAt(i + 1) & 0x7f] as number, 0);
    s += String.fromCharCode(hi * 16 + lo);
  }
  return s;
}
