/*
 * What recurs from one span to the next of the same name: its name and kind fields,
 * its attributes' KeyValue fields while their keys and values repeat in the same order
 * (a request span's protocol, model, version and outcome; a compute span's counts),
 * and whether its length took two bytes. Kept per name as the bytes last written, so a
 * span like the last one of its name costs one compare per attribute and one copy,
 * instead of a lookup and a copy per field (bench/RESULTS.md, seventh round).
 */

const EMPTY = new Uint8Array(0);
/** Names kept: a process's request path uses a handful; a name past these is written field by field. */
const MAX_SHAPES = 32;
/**
 * Times a name's attribute bytes are rewritten after its attributes changed: past it
 * they stay as they are (a span still copies the prefix that matches), so a value that
 * changes at every span (a byte count) costs a bounded number of copies, once.
 */
const MAX_REWRITES = 64;

export class SpanShape {
  /** The attribute pairs last written for this name, in order: keys, values, and the byte offset after each. */
  keys: readonly string[] = [];
  values: readonly unknown[] = [];
  ends: readonly number[] = [];
  /** Those pairs' KeyValue fields (Span.attributes, tags and lengths included), back to back. */
  bytes: Uint8Array = EMPTY;
  rewrites = 0;
  /** Whether the last span of this name took 128 bytes or more: its length is then reserved two bytes. */
  wide = false;

  constructor(
    readonly name: string,
    readonly kind: number,
    /** Span fields 5 and 6 (name, kind), tags and lengths included. */
    readonly head: Uint8Array,
  ) {}

  /** Whether a span whose attributes differ may still replace these pairs with its own. */
  get rewritable(): boolean {
    return this.rewrites < MAX_REWRITES;
  }

  /** Pairs just written (their keys, values, the offset after each from the first, and their bytes) replace these. */
  remember(keys: readonly string[], values: readonly unknown[], ends: readonly number[], bytes: Uint8Array): void {
    this.rewrites++;
    this.keys = keys;
    this.values = values;
    this.ends = ends;
    this.bytes = bytes;
  }
}

/**
 * One T per span name and kind (a SpanShape, a SpanFamily), made the first time, at most
 * `max` of them: a process's request path uses a handful, and a name past them gets none.
 */
export class ByName<T extends { readonly name: string; readonly kind: number }> {
  private readonly list: T[] = [];

  constructor(private readonly max: number) {}

  of(name: string, kind: number, make: (name: string, kind: number) => T): T | undefined {
    // A linear scan: the names are few, and mostly the same string objects (the SPAN constants), so === is a pointer compare.
    const list = this.list;
    for (let i = 0; i < list.length; i++) {
      const s = list[i] as T;
      if (s.name === name && s.kind === kind) return s;
    }
    if (list.length >= this.max) return undefined;
    const s = make(name, kind);
    list.push(s);
    return s;
  }
}

/** The shapes of an encoder's spans, by name (MAX_SHAPES). */
export const spanShapes = (): ByName<SpanShape> => new ByName<SpanShape>(MAX_SHAPES);
