import type { Attributes } from '@opentelemetry/api';
import { LEAF, type RecordedSpan } from '../span-record.js';
import type { ProtoWriter } from './proto-writer.js';
import { ByName } from './span-shapes.js';

/*
 * A span and its leaves (RecordedSpan.addLeaf: a request's queue, compute and encode
 * spans) as one run of bytes. For one model, request after request, the four spans
 * repeat everything but their ids and times: the same names, attributes and status,
 * so the same lengths too. So the bytes of the last such family are kept with where
 * its ids and times sit, and a family that repeats it (checked field by field) is one
 * copy of those bytes and a few small overwrites, instead of four spans written field
 * by field. A family that differs is written span by span and, a bounded number of
 * times, becomes the one kept.
 */

/** Offsets span() records per span, in order: its trace id, span id, parent span id (-1: none), start time, end time. */
export const MARKS = 5;

/** Moves the last span's marks (those at or after `from`, where its fields start) by `by` bytes. */
export function shiftMarks(marks: number[], from: number, by: number): void {
  for (let i = marks.length - MARKS; i < marks.length; i++) {
    const m = marks[i] as number;
    if (m >= from) marks[i] = m + by;
  }
}

/** Families kept, by the name of their head span: a process's request path has one or two. */
const MAX_FAMILIES = 8;
/** Times a name's family is replaced: a family that changes at every request (a size that varies) stops being copied, once. */
const MAX_CAPTURES = 64;

type Leaves = NonNullable<RecordedSpan['leaves']>;

/**
 * Whether `s` has nothing a kept family leaves out: no trace state, events, links,
 * dropped counts or status message, ids of the usual lengths, no array values.
 */
function plain(s: RecordedSpan): boolean {
  return (
    s.traceState === undefined &&
    s.events === undefined &&
    s.links === undefined &&
    s.droppedAttributes === 0 &&
    s.statusMessage === undefined &&
    s.traceBytes.length === 16 &&
    s.spanBytes.length === 8 &&
    (s.parentBytes === undefined || s.parentBytes.length === 8)
  );
}

/** Whether `attrs` holds exactly `keys` = `values` (kept by pairs(): none an object), in that order. */
function same(attrs: Attributes | undefined, keys: readonly string[], values: readonly unknown[]): boolean {
  let i = 0;
  if (attrs !== undefined)
    for (const k in attrs) {
      if (i >= keys.length || keys[i] !== k || values[i] !== attrs[k]) return false;
      i++;
    }
  return i === keys.length;
}

/**
 * `attrs` as keys and values, or undefined when a value is an object: an array changed
 * in place is the same object with other bytes, so a family holding one is never kept.
 */
function pairs(attrs: Attributes | undefined): [string[], unknown[]] | undefined {
  const keys: string[] = [];
  const values: unknown[] = [];
  if (attrs !== undefined)
    for (const k in attrs) {
      const v = attrs[k];
      if (typeof v === 'object') return undefined;
      keys.push(k);
      values.push(v);
    }
  return [keys, values];
}

export class SpanFamily {
  /** The family's bytes as last written, and where its ids and times are in them (MARKS per span, the head span first). */
  private bytes: Uint8Array | undefined = undefined;
  private marks: readonly number[] = [];
  private captures = 0;
  // What the bytes were written from, besides ids and times.
  private parented = false;
  private parentRemote = false;
  private traceFlags = 0;
  private statusCode = 0;
  private keys: readonly string[] = [];
  private values: readonly unknown[] = [];
  /** Per leaf: its name, attribute keys and values. */
  private leafNames: readonly string[] = [];
  private leafKeys: readonly (readonly string[])[] = [];
  private leafValues: readonly (readonly unknown[])[] = [];

  constructor(
    readonly name: string,
    readonly kind: number,
  ) {}

  /** Whether `s` and its leaves would be written as the kept bytes, but for ids and times. */
  matches(s: RecordedSpan): boolean {
    if (this.bytes === undefined || !plain(s)) return false;
    if ((s.parentBytes !== undefined) !== this.parented || s.parentRemote !== this.parentRemote) return false;
    if (s.traceFlags !== this.traceFlags || s.statusCode !== this.statusCode) return false;
    if (s.leafCount !== this.leafNames.length || !same(s.attributes, this.keys, this.values)) return false;
    const leaves = s.leaves as Leaves;
    for (let j = 0; j < this.leafNames.length; j++) {
      const at = j * LEAF;
      if (leaves[at] !== this.leafNames[j] || (leaves[at + 3] as string).length !== 8) return false;
      if (!same(leaves[at + 4] as Attributes | undefined, this.leafKeys[j] as string[], this.leafValues[j] as unknown[])) return false;
    }
    return true;
  }

  /** Whether `s` (of this name, written in full now) may become the kept family. */
  capturable(s: RecordedSpan): boolean {
    return this.captures < MAX_CAPTURES && plain(s);
  }

  /** Keeps the family of `s` just written at `buf[start, end)`, with the offsets span() recorded. False if it cannot be kept. */
  capture(s: RecordedSpan, buf: Uint8Array, start: number, end: number, marks: readonly number[]): boolean {
    const head = pairs(s.attributes);
    if (head === undefined) return false;
    const leaves = s.leaves ?? [];
    const names: string[] = [];
    const keys: string[][] = [];
    const values: unknown[][] = [];
    for (let at = 0; at < leaves.length; at += LEAF) {
      const p = pairs(leaves[at + 4] as Attributes | undefined);
      if (p === undefined || (leaves[at + 3] as string).length !== 8) return false;
      names.push(leaves[at] as string);
      keys.push(p[0]);
      values.push(p[1]);
    }
    this.captures++;
    this.bytes = Uint8Array.prototype.slice.call(buf, start, end);
    this.marks = marks.map((m) => (m < 0 ? -1 : m - start));
    this.parented = s.parentBytes !== undefined;
    this.parentRemote = s.parentRemote;
    this.traceFlags = s.traceFlags;
    this.statusCode = s.statusCode;
    [this.keys, this.values] = head;
    this.leafNames = names;
    this.leafKeys = keys;
    this.leafValues = values;
    return true;
  }

  /**
   * Writes `s` and its leaves (matches(s) was true): the kept bytes, with this family's
   * ids and times over them. The trace id and the head span's id are written once from
   * their strings and copied to the leaves (each leaf holds both).
   */
  write(w: ProtoWriter, s: RecordedSpan): void {
    const bytes = this.bytes as Uint8Array;
    const m = this.marks;
    w.ensure(bytes.length);
    const base = w.pos;
    w.buf.set(bytes, base);
    const trace = base + (m[0] as number);
    const id = base + (m[1] as number);
    w.idAt(trace, s.traceBytes, 16);
    w.idAt(id, s.spanBytes, 8);
    const parent = m[2] as number;
    if (parent >= 0) w.idAt(base + parent, s.parentBytes as string, 8);
    w.nanosAt(base + (m[3] as number), s.startMs);
    w.nanosAt(base + (m[4] as number), s.endMs);
    const leaves = s.leaves as Leaves;
    for (let k = MARKS, at = 0; k < m.length; k += MARKS, at += LEAF) {
      w.copyAt(base + (m[k] as number), trace, 16);
      w.idAt(base + (m[k + 1] as number), leaves[at + 3] as string, 8);
      w.copyAt(base + (m[k + 2] as number), id, 8);
      w.nanosAt(base + (m[k + 3] as number), leaves[at + 1] as number);
      w.nanosAt(base + (m[k + 4] as number), leaves[at + 2] as number);
    }
    w.pos = base + bytes.length;
  }
}

/** The kept families of an encoder, by their head span's name and kind (MAX_FAMILIES). */
export const spanFamilies = (): ByName<SpanFamily> => new ByName<SpanFamily>(MAX_FAMILIES);

/** A new family for spans named `name` of `kind` (ByName's maker). */
export const newFamily = (name: string, kind: number): SpanFamily => new SpanFamily(name, kind);
