import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Attributes, ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOnSampler, BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Origin, SpanEncoding } from '../../src/observe/otlp/encoding.js';
import { JsonEncoding } from '../../src/observe/otlp/json-encoding.js';
import { ProtobufEncoding } from '../../src/observe/otlp/protobuf-encoding.js';
import { LeafSpan } from '../../src/observe/leaf-span.js';
import { RecordedSpan } from '../../src/observe/span-record.js';
import { RecordingTracer } from '../../src/observe/span-recorder.js';

/*
 * modelpipe writes OTLP itself (span by span, as spans end); the official SDK writes
 * it from its own spans. The same spans, made through both tracers with the same ids
 * and times, must encode to the same request: byte for byte in protobuf, the same
 * document in JSON. One table of span shapes runs against both encodings.
 */

const origin: Origin = { resource: { 'service.name': 'enc-test' }, scope: { name: 'modelpipe' } };
const T0 = 1_780_000_000_123.456; // epoch ms with a sub-ms part
const PARENT = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED, isRemote: true };
const LINKED = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED };

interface Shape {
  name: string;
  make: (t: { startSpan: RecordingTracer['startSpan'] }) => void;
}

const shapes: Shape[] = [
  {
    name: 'a server span under a remote parent, every attribute type, an event, an error status',
    make: (t) => {
      const parent = trace.setSpanContext(ROOT_CONTEXT, { ...PARENT, traceState: new TraceState('vendor=x') });
      const s = t.startSpan(
        'modelpipe.request',
        { kind: SpanKind.SERVER, startTime: T0, attributes: { 'modelpipe.protocol': 'graphpipe' } },
        parent,
      );
      s.setAttribute('modelpipe.request_bytes', 120);
      s.setAttribute('ratio', 0.25);
      s.setAttribute('ok', true);
      s.setAttribute('neg', -3);
      s.setAttribute('list', ['a', 'b']);
      s.setAttribute(
        'name ü',
        'wert ß — long enough to pass one hundred and twenty-eight bytes of length when encoded, so its length takes two bytes',
      );
      s.addEvent('modelpipe.retry', { endpoint: 'http://b:9000' }, T0 + 1.5);
      s.setStatus({ code: SpanStatusCode.ERROR, message: 'MP_ERR_INPUT_SHAPE' });
      s.end(T0 + 2.000_25);
    },
  },
  {
    name: 'past the limit of 128 attributes: held keys still set, new ones dropped and counted',
    make: (t) => {
      const s = t.startSpan('modelpipe.request', { kind: SpanKind.SERVER, startTime: T0, attributes: { first: 0 } }, ROOT_CONTEXT);
      // k0…k126 fill the 128; k127…k129 are dropped; k0…k9 set again are kept (a key set twice is one).
      for (let i = 0; i < 140; i++) s.setAttribute(`k${i % 130}`, i);
      for (let i = 0; i < 3; i++) s.setAttribute('first', i + 1);
      s.setAttribute('late', 'dropped');
      s.end(T0 + 1);
    },
  },
  {
    name: 'a plain child span as the request path makes them: short attributes, nothing else',
    make: (t) => {
      const parent = trace.setSpanContext(ROOT_CONTEXT, { ...PARENT, isRemote: false });
      const s = t.startSpan(
        'modelpipe.compute',
        {
          startTime: T0,
          attributes: {
            'modelpipe.batch_requests': 1,
            'modelpipe.batch_rows': 300,
            'modelpipe.model': 'identity',
            big: 2 ** 50,
            empty: '',
          },
        },
        parent,
      );
      s.end(T0 + 0.5);
    },
  },
  {
    name: 'a root internal span with links and no attributes',
    make: (t) => {
      const s = t.startSpan(
        'modelpipe.batch',
        { startTime: T0, links: [{ context: LINKED }, { context: PARENT, attributes: { k: 'v' } }] },
        ROOT_CONTEXT,
      );
      s.end(T0 + 10);
    },
  },
];

/** A server span named modelpipe.request with `attributes`, at T0 for 1 ms. */
function requestShape(name: string, attributes: Attributes): Shape {
  return {
    name,
    make: (t) => t.startSpan('modelpipe.request', { kind: SpanKind.SERVER, startTime: T0, attributes }, ROOT_CONTEXT).end(T0 + 1),
  };
}

/** Runs `shape` through a tracer whose ids come from a fixed sequence, so both tracers make the same ids. */
function idsFrom(): { traceId: () => string; spanId: () => string } {
  let n = 0;
  return {
    traceId: () => (++n).toString(16).padStart(32, 'a'),
    spanId: () => (++n).toString(16).padStart(16, 'b'),
  };
}

function official(shape: Shape): Uint8Array[] {
  const exporter = new InMemorySpanExporter();
  const ids = idsFrom();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'enc-test' }),
    sampler: new AlwaysOnSampler(),
    idGenerator: { generateTraceId: ids.traceId, generateSpanId: ids.spanId },
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  shape.make(provider.getTracer('modelpipe'));
  const spans = exporter.getFinishedSpans();
  return [ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array, JsonTraceSerializer.serializeRequest(spans) as Uint8Array];
}

function ours(shape: Shape, encoding: SpanEncoding): Uint8Array {
  const ids = idsFrom();
  const tracer = new RecordingTracer(new AlwaysOnSampler(), (s: RecordedSpan) => encoding.add(s), ids);
  shape.make(tracer);
  const batch = encoding.take();
  assert.ok(batch);
  return batch.body;
}

/** Makes `shape` through our tracer into `enc` (an encoder kept across calls), checks the batch against the official bytes, and releases it. */
function sameAsOfficial(enc: ProtobufEncoding, shape: Shape): void {
  shape.make(new RecordingTracer(new AlwaysOnSampler(), (s: RecordedSpan) => enc.add(s), idsFrom()));
  const batch = enc.take();
  assert.ok(batch);
  const [want] = official(shape);
  assert.deepEqual(Buffer.from(batch.body), Buffer.from(want as Uint8Array), shape.name);
  enc.release(batch);
}

describe('OTLP encodings match the official serializer', () => {
  for (const shape of shapes) {
    test(`protobuf, byte for byte: ${shape.name}`, () => {
      const [want] = official(shape);
      assert.deepEqual(Buffer.from(ours(shape, new ProtobufEncoding(origin))), Buffer.from(want as Uint8Array));
    });
    test(`JSON, the same document: ${shape.name}`, () => {
      const [, want] = official(shape);
      const got = JSON.parse(Buffer.from(ours(shape, new JsonEncoding(origin))).toString('utf8'));
      assert.deepEqual(got, JSON.parse(Buffer.from(want as Uint8Array).toString('utf8')));
    });
  }

  test('batches written into released memory are whole: each matches the official request byte for byte', () => {
    const enc = new ProtobufEncoding(origin);
    // Every shape twice; each batch is checked, then released, so later batches are written over earlier ones.
    for (const shape of [...shapes, ...shapes]) sameAsOfficial(enc, shape);
    assert.equal(enc.take(), undefined);
  });

  test('attributes whose values change span to span encode as the official serializer, past the cache of repeated fields', () => {
    // One encoder for all: its remembered KeyValue fields (attribute-pairs.ts) are hit,
    // missed and, past 64 changes of a key, no longer updated.
    const enc = new ProtobufEncoding(origin);
    for (let i = 0; i < 150; i++) {
      const attributes = { 'modelpipe.request_bytes': i % 5 === 0 ? 144 : i, 'modelpipe.model': i % 3 === 0 ? 'a' : 'bb', same: 'x' };
      sameAsOfficial(enc, requestShape(`changing ${i}`, attributes));
    }
  });

  test('spans of one name that change size and attributes encode as the official serializer (span-shapes.ts)', () => {
    // One encoder: each name's shape (its attribute bytes, whether its length takes two
    // bytes) is made by one span and reused, partly reused or rewritten by the next.
    const enc = new ProtobufEncoding(origin);
    const list = ['a', 'b'];
    const steps: Attributes[] = [
      { p: 'graphpipe', m: 'id' }, // under 128 bytes
      { p: 'graphpipe', m: 'id', long: 'x'.repeat(200) }, // 128 bytes or more: two length bytes
      { p: 'graphpipe', m: 'id', long: 'x'.repeat(200) }, // the same again: the shape's bytes whole
      { p: 'graphpipe', m: 'id' }, // shorter than the shape: its prefix, and back under 128
      { p: 'graphpipe', m: 'id', long: 'y'.repeat(20_000) }, // three length bytes
      { m: 'id', p: 'graphpipe' }, // the same pairs in another order
      { p: 'oip', m: 'id' }, // the first pair differs
      { p: 'oip', m: 'other', n: 7 },
      { p: 'oip', m: 'other', list }, // an array is never taken as unchanged ...
    ];
    for (const [i, attributes] of steps.entries()) sameAsOfficial(enc, requestShape(`step ${i}`, attributes));
    list.push('c'); // ... so the same list, changed in place, is written anew
    sameAsOfficial(enc, requestShape('the list changed in place', { p: 'oip', m: 'other', list }));
  });

  // The request path's queue and encode spans are leaves of the request span
  // (RecordedSpan.addLeaf), encoded right after it; the SDK makes them as child spans.
  // The official side ends the parent first, so both write the spans in one order.
  const ENDS = [
    ['modelpipe.queue', T0 + 0.01, T0 + 0.2],
    ['modelpipe.encode', T0 + 0.7, T0 + 0.75],
  ] as const;

  const officialLeaves = (): Uint8Array[] =>
    official({
      name: 'leaves',
      make: (t) => {
        const parent = trace.setSpanContext(ROOT_CONTEXT, { ...PARENT, traceState: new TraceState('vendor=x') });
        const req = t.startSpan('modelpipe.request', { kind: SpanKind.SERVER, startTime: T0 }, parent);
        const under = trace.setSpan(ROOT_CONTEXT, req);
        const kids = ENDS.map(([name, start]) => t.startSpan(name, { startTime: start }, under));
        req.end(T0 + 1);
        for (const [i, k] of kids.entries()) k.end((ENDS[i] as (typeof ENDS)[number])[2]);
      },
    });

  function ourLeaves(encoding: SpanEncoding): Uint8Array {
    const view = new LeafSpan();
    const onEnd = (s: RecordedSpan) => {
      encoding.add(s);
      for (let i = 0; i < s.leafCount; i++) encoding.add(view.of(s, i));
    };
    const tracer = new RecordingTracer(new AlwaysOnSampler(), onEnd, idsFrom());
    const parent = trace.setSpanContext(ROOT_CONTEXT, { ...PARENT, traceState: new TraceState('vendor=x') });
    const req = tracer.startSpan('modelpipe.request', { kind: SpanKind.SERVER, startTime: T0 }, parent);
    assert.ok(req instanceof RecordedSpan);
    for (const [name, start, end] of ENDS) assert.equal(tracer.leaf(req, name, start, end), true);
    req.end(T0 + 1);
    assert.equal(tracer.leaf(req, 'late', T0, T0 + 2), false, 'a leaf of an ended span is refused');
    const batch = encoding.take();
    assert.ok(batch);
    assert.equal(batch.count, 3);
    return batch.body;
  }

  test('leaves: protobuf, byte for byte, as the SDK writes the same children', () => {
    const [want] = officialLeaves();
    assert.deepEqual(Buffer.from(ourLeaves(new ProtobufEncoding(origin))), Buffer.from(want as Uint8Array));
  });

  test('leaves: JSON, the same document as the SDK writes for the same children', () => {
    const [, want] = officialLeaves();
    const got = JSON.parse(Buffer.from(ourLeaves(new JsonEncoding(origin))).toString('utf8'));
    assert.deepEqual(got, JSON.parse(Buffer.from(want as Uint8Array).toString('utf8')));
  });
});
