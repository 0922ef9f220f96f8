import type { AttributeValue, Attributes } from '@opentelemetry/api';
import type { FinishedSpan } from '../span-record.js';
import { type Origin, type SpanBatch, type SpanEncoding, spanFlags } from './encoding.js';
import { ProtoWriter } from './proto-writer.js';

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

function attributes(w: ProtoWriter, field: number, attrs: Attributes): void {
  for (const key in attrs) {
    const v = attrs[key];
    w.tag(field, 2);
    const kv = w.begin();
    w.string(1, key);
    w.tag(2, 2);
    const val = w.begin();
    if (v !== undefined) anyValue(w, v);
    w.end(val);
    w.end(kv);
  }
}

function span(w: ProtoWriter, s: FinishedSpan): void {
  w.tag(2, 2); // ScopeSpans.spans
  const at = w.begin();
  const ctx = s.ctx;
  w.hex(1, ctx.traceId);
  w.hex(2, ctx.spanId);
  const state = ctx.traceState?.serialize();
  if (state) w.string(3, state);
  if (s.parent !== undefined) w.hex(4, s.parent.spanId);
  w.string(5, s.name);
  w.tag(6, 0);
  w.varint(s.kind + 1); // the API has no "unspecified" kind: OTLP's values are one up
  w.nanos(7, s.startMs);
  w.nanos(8, s.endMs);
  attributes(w, 9, s.attributes);
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
    w.hex(1, l.traceId);
    w.hex(2, l.spanId);
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
  w.fixed32(16, spanFlags(ctx.traceFlags, s.parent?.isRemote));
  w.end(at);
}

export class ProtobufEncoding implements SpanEncoding {
  readonly contentType = 'application/x-protobuf';
  private readonly w = new ProtoWriter();
  private n = 0;
  /** ResourceSpans.resource and ScopeSpans.scope, tags and lengths included: the same in every request. */
  private readonly resourceField: Buffer;
  private readonly scopeField: Buffer;

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
  }

  get pending(): number {
    return this.n;
  }

  add(s: FinishedSpan): void {
    span(this.w, s);
    this.n++;
  }

  take(): SpanBatch | undefined {
    if (this.n === 0) return undefined;
    const batch = { bytes: this.w.take(), count: this.n };
    this.w.reset();
    this.n = 0;
    return batch;
  }

  /**
   * ExportTraceServiceRequest { resource_spans { resource, scope_spans { scope, spans… } } }:
   * the lengths are known from the parts, so the encoded spans are copied once, into the body.
   */
  request(batches: readonly SpanBatch[]): Uint8Array {
    let spans = 0;
    for (const b of batches) spans += b.bytes.length;
    const scopeSpans = this.scopeField.length + spans;
    const head = new ProtoWriter(32);
    head.tag(2, 2); // ResourceSpans.scope_spans
    head.varint(scopeSpans);
    const scopeHead = head.take();
    head.reset();
    head.tag(1, 2); // ExportTraceServiceRequest.resource_spans
    head.varint(this.resourceField.length + scopeHead.length + scopeSpans);
    return Buffer.concat([head.take(), this.resourceField, scopeHead, this.scopeField, ...batches.map((b) => b.bytes)]);
  }
}
