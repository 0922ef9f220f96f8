import type { AttributeValue, Attributes } from '@opentelemetry/api';
import type { LeafSpan } from '../leaf-span.js';
import type { FinishedSpan, RecordedSpan } from '../span-record.js';
import { type Origin, type SpanBatch, type SpanEncoding, spanFlags } from './encoding.js';
import { ProtoWriter } from './proto-writer.js';
import { ShortAttributes } from './short-attribute.js';
import { newFamily, shiftMarks, spanFamilies } from './span-family.js';
import { type ByName, SpanShape, spanShapes } from './span-shapes.js';

/*
 * OTLP/HTTP protobuf (opentelemetry/proto/trace/v1/trace.proto). Fields in the order
 * and form the official serializer (@opentelemetry/otlp-transformer) writes them, so
 * the bytes are the same as its for the same span: test/observe/otlp-encoding.test.ts
 * checks that.
 */

function anyValue(w: ProtoWriter, v: AttributeValue): void {
  if (typeof v === 'string') w.string(1, v);
  else if (typeof v === 'boolean') {
    w.tag(2, 0);
    w.varint(v ? 1 : 0);
  } else if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 63) {
      w.tag(3, 0);
      w.varint(v);
    } else w.double(4, v);
  } else if (Array.isArray(v)) {
    w.tag(5, 2);
    const arr = w.begin();
    for (const item of v) {
      w.tag(1, 2);
      const at = w.begin();
      if (item !== null && item !== undefined) anyValue(w, item);
      w.end(at);
    }
    w.end(arr);
  }
}

/**
 * One KeyValue field (`field`: Span.attributes 9, an event's 3, a link's 4, the
 * resource's 1). A span's short ones (short strings, small integers) go through
 * `short` in one go; the rest through the general writer.
 */
function attribute(w: ProtoWriter, field: number, key: string, v: AttributeValue | undefined, short?: ShortAttributes): void {
  if (short !== undefined && (typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v) && v >= 0)) && short.write(w, key, v))
    return;
  w.tag(field, 2);
  const kv = w.begin();
  w.string(1, key);
  w.tag(2, 2);
  const val = w.begin();
  if (v !== undefined) anyValue(w, v);
  w.end(val);
  w.end(kv);
}

function attributes(w: ProtoWriter, field: number, attrs: Attributes, short?: ShortAttributes): void {
  for (const key in attrs) attribute(w, field, key, attrs[key], short);
}

/**
 * A span's attributes through its name's shape: the pairs that match the shape's, in
 * order, are one copy of its bytes; from the first that differs on, they are written
 * one by one, and (within the shape's rewrites) become the shape's pairs.
 */
function shapedAttributes(w: ProtoWriter, attrs: Attributes, shape: SpanShape, short: ShortAttributes): void {
  const keys = shape.keys;
  const values = shape.values;
  const n = keys.length;
  let same = 0; // leading pairs equal to the shape's
  let differs = false;
  let start = 0; // where this span's attributes start, once they differ
  let k: string[] | undefined;
  let vs: unknown[] | undefined;
  let ends: number[] | undefined;
  for (const key in attrs) {
    const v = attrs[key];
    if (!differs) {
      // An array is never the same: one the caller changed in place would keep its old bytes.
      if (same < n && keys[same] === key && values[same] === v && typeof v !== 'object') {
        same++;
        continue;
      }
      differs = true;
      start = w.pos;
      const prefix = same === 0 ? 0 : (shape.ends[same - 1] as number);
      if (prefix > 0) w.rawPrefix(shape.bytes, prefix);
      if (shape.rewritable) {
        k = keys.slice(0, same);
        vs = values.slice(0, same);
        ends = shape.ends.slice(0, same);
      }
    }
    attribute(w, 9, key, v, short);
    if (k !== undefined) {
      k.push(key);
      (vs as unknown[]).push(v);
      (ends as number[]).push(w.pos - start);
    }
  }
  if (!differs) {
    // The shape's first `same` pairs, all this span has (fewer than the shape's only when it lacks its last ones).
    if (same > 0) w.rawPrefix(shape.bytes, shape.ends[same - 1] as number);
    return;
  }
  if (k !== undefined) shape.remember(k, vs as unknown[], ends as number[], Uint8Array.prototype.slice.call(w.buf, start, w.pos));
}

/** Span fields 5 and 6: its name and kind (the API has no "unspecified" kind: OTLP's values are one up). */
function head(name: string, kind: number): Uint8Array {
  const w = new ProtoWriter(64);
  w.string(5, name);
  w.tag(6, 0);
  w.varint(kind + 1);
  return w.take();
}

/** A name's shape, its head written once (ByName's maker). */
const newShape = (name: string, kind: number): SpanShape => new SpanShape(name, kind, head(name, kind));

/**
 * One span. `marks`: where its ids and times are written is pushed there (MARKS
 * offsets: span-family.ts), for a family of spans kept to be written again.
 */
function span(w: ProtoWriter, s: FinishedSpan, shapes: ByName<SpanShape>, short: ShortAttributes, marks?: number[]): void {
  const shape = shapes.of(s.name, s.kind, newShape);
  w.tag(2, 2); // ScopeSpans.spans
  const wide = shape?.wide === true;
  const at = wide ? w.beginWide() : w.begin();
  const from = w.pos; // where the span's fields start, before its length is known
  // An id's data follows its tag and length byte; a time's its tag.
  marks?.push(w.pos + 2);
  w.idBytes(1, s.traceBytes);
  marks?.push(w.pos + 2);
  w.idBytes(2, s.spanBytes);
  const state = s.traceState?.serialize();
  if (state) w.string(3, state);
  marks?.push(s.parentBytes === undefined ? -1 : w.pos + 2);
  if (s.parentBytes !== undefined) w.idBytes(4, s.parentBytes);
  if (shape !== undefined) w.raw(shape.head);
  else {
    w.string(5, s.name);
    w.tag(6, 0);
    w.varint(s.kind + 1);
  }
  marks?.push(w.pos + 1);
  w.nanos(7, s.startMs);
  marks?.push(w.pos + 1);
  w.nanos(8, s.endMs);
  if (shape !== undefined) shapedAttributes(w, s.attributes, shape, short);
  else attributes(w, 9, s.attributes, short);
  if (s.droppedAttributes === 0 && s.events === undefined && s.links === undefined && s.statusMessage === undefined) {
    // Most spans: nothing dropped, no events or links, no status message.
    w.plainTail(s.statusCode, spanFlags(s.traceFlags, s.parentRemote));
  } else rareFields(w, s);
  const before = w.pos;
  if (wide) shape.wide = w.endWide(at) >= 0x80;
  else {
    w.end(at);
    if (shape !== undefined) shape.wide = w.pos - at > 0x81; // the span's length took two bytes or more
  }
  // A length that took more or fewer bytes than reserved moved the fields, and so their marks.
  if (marks !== undefined && w.pos !== before) shiftMarks(marks, from, w.pos - before);
}

/** A span's fields 10 to 16 when something was dropped or it has events, links or a status message. */
function rareFields(w: ProtoWriter, s: FinishedSpan): void {
  w.tag(10, 0);
  w.varint(s.droppedAttributes);
  for (const e of s.events ?? []) {
    w.tag(11, 2);
    const ev = w.begin();
    w.nanos(1, e.ms);
    w.string(2, e.name);
    if (e.attributes !== undefined) attributes(w, 3, e.attributes);
    w.tag(4, 0);
    w.varint(0);
    w.end(ev);
  }
  w.tag(12, 0);
  w.varint(s.droppedEvents);
  for (const l of s.links ?? []) {
    w.tag(13, 2);
    const link = w.begin();
    w.idBytes(1, l.traceBytes);
    w.idBytes(2, l.spanBytes);
    if (l.attributes !== undefined) attributes(w, 4, l.attributes);
    w.tag(5, 0);
    w.varint(0);
    w.fixed32(6, spanFlags(l.traceFlags, l.remote));
    w.end(link);
  }
  w.tag(14, 0);
  w.varint(s.droppedLinks);
  w.tag(15, 2);
  const status = w.begin();
  if (s.statusMessage) w.string(2, s.statusMessage);
  w.tag(3, 0);
  w.varint(s.statusCode);
  w.end(status);
  w.fixed32(16, spanFlags(s.traceFlags, s.parentRemote));
}

/** Write buffers kept for reuse: a fresh one per batch would be page-faulted in every time. */
const SPARE = 4;

export class ProtobufEncoding implements SpanEncoding {
  readonly contentType = 'application/x-protobuf';
  private readonly w: ProtoWriter;
  private n = 0;
  /** ResourceSpans.resource and ScopeSpans.scope, tags and lengths included: the same in every request. */
  private readonly resourceField: Buffer;
  private readonly scopeField: Buffer;
  /** Room left before the spans for the request's head (its two tags and lengths, the resource and the scope). */
  private readonly headroom: number;
  private readonly spare: Buffer[] = [];
  private readonly shapes = spanShapes();
  private readonly short = new ShortAttributes();
  private readonly families = spanFamilies();

  constructor(origin: Origin) {
    const w = new ProtoWriter(1024);
    w.tag(1, 2);
    const res = w.begin();
    attributes(w, 1, origin.resource);
    w.tag(2, 0);
    w.varint(0);
    w.end(res);
    this.resourceField = w.take();
    w.reset();
    w.tag(1, 2);
    const scope = w.begin();
    w.string(1, origin.scope.name);
    if (origin.scope.version) w.string(2, origin.scope.version);
    w.end(scope);
    this.scopeField = w.take();
    // Two tags and two lengths (at most 1 + 10 bytes each) besides the constant parts.
    this.headroom = this.resourceField.length + this.scopeField.length + 22;
    this.w = new ProtoWriter(64 * 1024, this.headroom);
  }

  get pending(): number {
    return this.n;
  }

  add(s: FinishedSpan): void {
    span(this.w, s, this.shapes, this.short);
    this.n++;
  }

  /** A span and its leaves: one copy of their family's bytes when they repeat it (span-family.ts), else span by span. */
  addFamily(s: RecordedSpan, leaf: LeafSpan): void {
    const n = s.leafCount;
    const w = this.w;
    const family = this.families.of(s.name, s.kind, newFamily);
    if (family?.matches(s)) family.write(w, s);
    else {
      const marks = family?.capturable(s) ? [] : undefined;
      const start = w.pos;
      span(w, s, this.shapes, this.short, marks);
      for (let j = 0; j < n; j++) span(w, leaf.of(s, j), this.shapes, this.short, marks);
      if (marks !== undefined) family?.capture(s, w.buf, start, w.pos, marks);
    }
    this.n += 1 + n;
  }

  /**
   * ExportTraceServiceRequest { resource_spans { resource, scope_spans { scope, spans… } } }:
   * the spans were written after room for the head, which goes in front of them once
   * their length is known. The body is the writer's own memory, so nothing is copied;
   * the writer goes on in a spare buffer.
   */
  take(): SpanBatch | undefined {
    if (this.n === 0) return undefined;
    const w = this.w;
    const scopeSpans = this.scopeField.length + (w.pos - this.headroom);
    const head = new ProtoWriter(32);
    head.tag(2, 2); // ResourceSpans.scope_spans
    head.varint(scopeSpans);
    const scopeHead = head.take();
    head.reset();
    head.tag(1, 2); // ExportTraceServiceRequest.resource_spans
    head.varint(this.resourceField.length + scopeHead.length + scopeSpans);
    let at = this.headroom;
    for (const part of [this.scopeField, scopeHead, this.resourceField, head.take()]) {
      at -= part.length;
      w.buf.set(part, at);
    }
    const batch = { body: w.buf.subarray(at, w.pos), count: this.n, memory: w.buf };
    w.restart(this.spare.pop() ?? Buffer.allocUnsafe(w.buf.length));
    this.n = 0;
    return batch;
  }

  release(batch: SpanBatch): void {
    // take()'s batches carry the writer memory they were written in.
    if ('memory' in batch && batch.memory instanceof Buffer && this.spare.length < SPARE) this.spare.push(batch.memory);
  }
}
