import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Attributes, type Context, ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, type Tracer, trace } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOnSampler, BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { LeafSpan } from '../../src/observe/leaf-span.js';
import type { Origin, SpanEncoding } from '../../src/observe/otlp/encoding.js';
import { JsonEncoding } from '../../src/observe/otlp/json-encoding.js';
import { ProtobufEncoding } from '../../src/observe/otlp/protobuf-encoding.js';
import { RecordedSpan } from '../../src/observe/span-record.js';
import { RecordingTracer } from '../../src/observe/span-recorder.js';

/*
 * A request span and its leaves are encoded as one family (otlp/span-family.ts): the
 * first time span by span, then, while the family repeats, as one copy of its bytes
 * with its ids and times written over them. Every family below, hit, missed or
 * recaptured by one encoder kept across them, must be the bytes the official
 * serializer writes for the same spans made through the SDK (the leaves as ordinary
 * child spans), with new ids and times each time.
 */

const origin: Origin = { resource: { 'service.name': 'family-test' }, scope: { name: 'modelpipe' } };
const T0 = 1_780_000_000_999.25; // near a second's end: later families cross into the next
const PARENT = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED, isRemote: true };

interface Family {
  start: number;
  head: Attributes;
  compute: Attributes;
  /** Under a parent of another process or of this one (no trace state), else a root. */
  parented?: 'remote' | 'local';
  /** A list among its attributes, changed in place (an item pushed) before the family is made. */
  changes?: string[];
  /** Its status message, when it failed. */
  failed?: string;
}

/** Ids from a fixed sequence from `from` on, so both tracers draw the same ids and each family new ones. */
function idsFrom(from: number): { traceId: () => string; spanId: () => string } {
  let n = from;
  return {
    traceId: () => (++n).toString(16).padStart(32, 'c'),
    spanId: () => (++n).toString(16).padStart(16, 'd'),
  };
}

const leavesOf = (f: Family) =>
  [
    ['modelpipe.queue', f.start + 0.01, f.start + 0.2, undefined],
    ['modelpipe.compute', f.start + 0.2, f.start + 0.61, f.compute],
    ['modelpipe.encode', f.start + 0.7, f.start + 0.75, undefined],
  ] as const;

/** The head's parent: a new span id each family (from its start). */
const parentOf = (f: Family): Context => {
  if (f.parented === undefined) return ROOT_CONTEXT;
  const spanId = Math.round(f.start * 1000)
    .toString(16)
    .padStart(16, 'e');
  return trace.setSpanContext(ROOT_CONTEXT, { ...PARENT, spanId, isRemote: f.parented === 'remote' });
};

function startHead(t: Tracer, f: Family) {
  const span = t.startSpan('modelpipe.request', { kind: SpanKind.SERVER, startTime: f.start, attributes: f.head }, parentOf(f));
  if (f.failed !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: f.failed });
  return span;
}

/** The official bytes (protobuf, JSON) of `f` with ids from `from`: the leaves as child spans, ended after the head. */
function official(f: Family, from: number): Uint8Array[] {
  const exporter = new InMemorySpanExporter();
  const ids = idsFrom(from);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'family-test' }),
    sampler: new AlwaysOnSampler(),
    idGenerator: { generateTraceId: ids.traceId, generateSpanId: ids.spanId },
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const t = provider.getTracer('modelpipe');
  const head = startHead(t, f);
  const under = trace.setSpan(ROOT_CONTEXT, head);
  const kids = leavesOf(f).map(([name, start, end, attributes]) => ({
    span: t.startSpan(name, attributes === undefined ? { startTime: start } : { startTime: start, attributes }, under),
    end,
  }));
  head.end(f.start + 1);
  for (const k of kids) k.span.end(k.end);
  const spans = exporter.getFinishedSpans();
  return [ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array, JsonTraceSerializer.serializeRequest(spans) as Uint8Array];
}

/** `f` through our tracer into `enc` (kept across families) as one family; the batch's body, released after `check`. */
function ours(enc: SpanEncoding, f: Family, from: number, check: (body: Uint8Array) => void): void {
  const view = new LeafSpan();
  const tracer = new RecordingTracer(new AlwaysOnSampler(), (s: RecordedSpan) => enc.addFamily(s, view), idsFrom(from));
  const head = startHead(tracer, f);
  assert.ok(head instanceof RecordedSpan);
  for (const [name, start, end, attributes] of leavesOf(f)) assert.ok(tracer.leaf(head, name, start, end, attributes));
  head.end(f.start + 1);
  const batch = enc.take();
  assert.ok(batch);
  assert.equal(batch.count, 4);
  check(batch.body);
  enc.release(batch);
}

const HEAD = {
  'modelpipe.protocol': 'graphpipe',
  'modelpipe.model': 'identity',
  'modelpipe.model_version': '1',
  'modelpipe.outcome': 'ok',
};
const COMPUTE = { 'modelpipe.batch_requests': 1, 'modelpipe.batch_rows': 1, 'modelpipe.instances': 1 };

/** Families in an order that hits the kept one, misses it in each way it can, and recaptures. */
function families(): Family[] {
  const list: Family[] = [];
  const at = (i: number) => T0 + i * 0.37;
  for (let i = 0; i < 6; i++) list.push({ start: at(list.length), head: HEAD, compute: COMPUTE }); // repeats, across a second
  list.push({ start: at(list.length), head: { ...HEAD, 'modelpipe.request_bytes': 144 }, compute: COMPUTE }); // one more attribute
  list.push({ start: at(list.length), head: { ...HEAD, 'modelpipe.request_bytes': 144 }, compute: COMPUTE });
  list.push({ start: at(list.length), head: { ...HEAD, 'modelpipe.request_bytes': 145 }, compute: COMPUTE }); // a value
  list.push({ start: at(list.length), head: HEAD, compute: { ...COMPUTE, 'modelpipe.batch_rows': 7 } }); // a leaf's value
  list.push({ start: at(list.length), head: HEAD, compute: { ...COMPUTE, 'modelpipe.batch_rows': 7 } });
  list.push({ start: at(list.length), head: HEAD, compute: COMPUTE }); // a leaf's value alone
  list.push({ start: at(list.length), head: HEAD, compute: COMPUTE, parented: 'local' }); // a parent alone
  list.push({ start: at(list.length), head: HEAD, compute: COMPUTE, parented: 'local' });
  list.push({ start: at(list.length), head: HEAD, compute: COMPUTE, parented: 'remote' }); // a remote parent alone
  list.push({ start: at(list.length), head: HEAD, compute: COMPUTE, parented: 'remote' });
  list.push({ start: at(list.length), head: HEAD, compute: COMPUTE, failed: 'MP_ERR_TIMEOUT' }); // a status message: never kept
  list.push({ start: at(list.length), head: HEAD, compute: COMPUTE, failed: 'MP_ERR_MODEL_RUNTIME' });
  list.push({ start: at(list.length), head: { ...HEAD, note: 'x'.repeat(300) }, compute: COMPUTE }); // a head of two length bytes
  list.push({ start: at(list.length), head: { ...HEAD, note: 'x'.repeat(300) }, compute: COMPUTE });
  const items = ['a', 'b'];
  list.push({ start: at(list.length), head: { ...HEAD, items }, compute: COMPUTE }); // an array: never kept,
  list.push({ start: at(list.length), head: { ...HEAD, items }, compute: COMPUTE, changes: items }); // as it may change in place
  list.push({ start: at(list.length) + 3600_000, head: HEAD, compute: COMPUTE }); // an hour later
  list.push({ start: at(list.length) + 3600_000, head: HEAD, compute: COMPUTE });
  return list;
}

describe('a span and its leaves encoded as one family (span-family.ts)', () => {
  test('protobuf: every family, kept, hit or missed, is the official bytes', () => {
    const enc = new ProtobufEncoding(origin);
    for (const [i, f] of families().entries()) {
      const from = 1000 * (i + 1);
      f.changes?.push('c');
      const [want] = official(f, from);
      ours(enc, f, from, (body) => assert.deepEqual(Buffer.from(body), Buffer.from(want as Uint8Array), `family ${i}`));
    }
  });

  test('JSON: the same documents as the official serializer', () => {
    const enc = new JsonEncoding(origin);
    for (const [i, f] of families().slice(0, 3).entries()) {
      const from = 1000 * (i + 1);
      const [, want] = official(f, from);
      ours(enc, f, from, (body) =>
        assert.deepEqual(JSON.parse(Buffer.from(body).toString('utf8')), JSON.parse(Buffer.from(want as Uint8Array).toString('utf8'))),
      );
    }
  });
});
