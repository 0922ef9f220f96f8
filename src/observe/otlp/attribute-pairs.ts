/*
 * Span attributes' encoded KeyValue fields, by key, as last written. Most request-path
 * attributes repeat their last value (a protocol, a model's name and version, "ok"),
 * so the whole field is copied in one TypedArray set instead of being written from its
 * key and value. A key whose value keeps changing (a byte count) stops being
 * remembered after MAX_MISSES changes, and at most MAX_KEYS keys are kept: a
 * request-unique attribute costs a bounded amount of memory, once.
 */

const MAX_KEYS = 4096;
const MAX_MISSES = 64;

interface Pair {
  value: string | number;
  bytes: Uint8Array;
  misses: number;
}

export class AttributePairs {
  private readonly byKey = new Map<string, Pair>();

  /** The field written for `key` last time, when its value was `value` then too. */
  get(key: string, value: string | number): Uint8Array | undefined {
    const p = this.byKey.get(key);
    return p !== undefined && p.value === value ? p.bytes : undefined;
  }

  /** The field for `key` = `value` was just written at `buf[start, end)`: copied out to be reused. */
  remember(key: string, value: string | number, buf: Uint8Array, start: number, end: number): void {
    const p = this.byKey.get(key);
    if (p === undefined) {
      if (this.byKey.size < MAX_KEYS) this.byKey.set(key, { value, bytes: Uint8Array.prototype.slice.call(buf, start, end), misses: 0 });
    } else if (p.misses < MAX_MISSES) {
      p.misses++;
      p.value = value;
      p.bytes = Uint8Array.prototype.slice.call(buf, start, end);
    }
  }
}
