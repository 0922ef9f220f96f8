/**
 * The few protobuf and gRPC wire details modelpipe handles itself, beside the
 * generated (de)serializers: raw tensor contents are `repeated bytes` fields
 * written as their own chunks (never copied into a serialization buffer), and
 * a receiver finds where the first one starts, to place it 64-byte aligned.
 */

/** gRPC's 5-byte message prefix: not compressed, then the length (big-endian). */
export function grpcPrefix(length: number): Buffer {
  const p = Buffer.alloc(5);
  p.writeUInt32BE(length, 1);
  return p;
}

/** Protobuf `bytes` field number `field` holding `b`: a key+length head, then the bytes themselves. */
export function bytesField(field: number, b: Uint8Array): Uint8Array[] {
  const head = [(field << 3) | 2];
  for (let n = b.byteLength; ; n = Math.floor(n / 128)) {
    if (n < 128) {
      head.push(n);
      break;
    }
    head.push((n % 128) | 128);
  }
  return [Uint8Array.from(head), b];
}

/** Reads a varint at `at`; undefined when it runs past `end` or beyond 2^53. */
function varint(b: Uint8Array, at: number, end: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = at; i < end && i < at + 8; i++) {
    const byte = b[i] as number;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return { value, next: i + 1 };
    scale *= 128;
  }
  return undefined;
}

/**
 * Offset, within `msg` (a message or only its first bytes), of the data of the
 * first length-delimited field numbered `field` at the top level; undefined when
 * it is not within those bytes or they do not parse. A hint only: the real
 * decoder checks everything later.
 */
export function fieldDataOffset(msg: Uint8Array, field: number): number | undefined {
  let at = 0;
  const end = msg.length;
  while (at < end) {
    const key = varint(msg, at, end);
    if (!key) return undefined;
    at = key.next;
    const wire = key.value % 8;
    if (wire === 0) {
      const v = varint(msg, at, end);
      if (!v) return undefined;
      at = v.next;
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const len = varint(msg, at, end);
      if (!len) return undefined;
      if (Math.floor(key.value / 8) === field) return len.next;
      at = len.next + len.value;
    } else return undefined;
  }
  return undefined;
}
