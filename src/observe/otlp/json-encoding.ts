import type { AttributeValue, Attributes } from '@opentelemetry/api';
import { idHex } from '../span-ids.js';
import type { LeafSpan } from '../leaf-span.js';
import type { FinishedSpan, RecordedSpan } from '../span-record.js';
import { secondsAndNanos } from '../span-time.js';
import { type Origin, type SpanBatch, type SpanEncoding, spanFlags } from './encoding.js';

/*
 * OTLP/HTTP JSON: the protobuf messages in the spec's JSON mapping, with trace and
 * span ids as hex and 64-bit times as decimal strings — what the official JSON
 * serializer writes (test/observe/otlp-encoding.test.ts compares the two).
 */

type Json = Record<string, unknown>;

function nanos(ms: number): string {
  const [secs, ns] = secondsAndNanos(ms);
  return secs === 0 ? String(ns) : `${secs}${String(ns).padStart(9, '0')}`;
}

function anyValue(v: AttributeValue | null | undefined): Json {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { intValue: v } : { doubleValue: v };
  if (Array.isArray(v)) return { arrayValue: { values: v.map((x) => anyValue(x)) } };
  return {};
}

function attributes(attrs: Attributes | undefined): Json[] {
  const out: Json[] = [];
  for (const key in attrs) out.push({ key, value: anyValue(attrs[key]) });
  return out;
}

function span(s: FinishedSpan): Json {
  const o: Json = { traceId: idHex(s.traceBytes), spanId: idHex(s.spanBytes) };
  const state = s.traceState?.serialize();
  if (state) o.traceState = state;
  if (s.parentBytes !== undefined) o.parentSpanId = idHex(s.parentBytes);
  o.name = s.name;
  o.kind = s.kind + 1;
  o.startTimeUnixNano = nanos(s.startMs);
  o.endTimeUnixNano = nanos(s.endMs);
  o.attributes = attributes(s.attributes);
  o.droppedAttributesCount = s.droppedAttributes;
  o.events = (s.events ?? []).map((e) => ({
    attributes: attributes(e.attributes),
    name: e.name,
    timeUnixNano: nanos(e.ms),
    droppedAttributesCount: 0,
  }));
  o.droppedEventsCount = s.droppedEvents;
  o.status = s.statusMessage === undefined ? { code: s.statusCode } : { code: s.statusCode, message: s.statusMessage };
  o.links = (s.links ?? []).map((l) => ({
    attributes: attributes(l.attributes),
    spanId: idHex(l.spanBytes),
    traceId: idHex(l.traceBytes),
    droppedAttributesCount: 0,
    flags: spanFlags(l.traceFlags, l.remote),
  }));
  o.droppedLinksCount = s.droppedLinks;
  o.flags = spanFlags(s.traceFlags, s.parentRemote);
  return o;
}

export class JsonEncoding implements SpanEncoding {
  readonly contentType = 'application/json';
  private parts: string[] = [];

  constructor(private readonly origin: Origin) {}

  get pending(): number {
    return this.parts.length;
  }

  add(s: FinishedSpan): void {
    this.parts.push(JSON.stringify(span(s)));
  }

  addFamily(s: RecordedSpan, leaf: LeafSpan): void {
    this.add(s);
    for (let j = 0; j < s.leafCount; j++) this.add(leaf.of(s, j));
  }

  take(): SpanBatch | undefined {
    if (this.parts.length === 0) return undefined;
    const scope: Json = { name: this.origin.scope.name };
    if (this.origin.scope.version) scope.version = this.origin.scope.version;
    const head = JSON.stringify({
      resource: { attributes: attributes(this.origin.resource), droppedAttributesCount: 0 },
      scopeSpans: [{ scope, spans: [] }],
    });
    // The spans go into the empty list at the end of `head`: ...,"spans":[ HERE ]}]}
    const body = Buffer.from(`{"resourceSpans":[${head.slice(0, -4)}${this.parts.join(',')}]}]}]}`);
    const batch = { body, count: this.parts.length };
    this.parts = [];
    return batch;
  }

  release(): void {}
}
