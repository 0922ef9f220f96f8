import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { AlwaysOnSampler } from '@opentelemetry/sdk-trace-base';
import { SpanShipper } from '../../src/observe/span-shipper.js';
import { RecordedSpan } from '../../src/observe/span-record.js';
import { RecordingTracer } from '../../src/observe/span-recorder.js';
import { OtlpReceiver } from '../helpers/otlp.js';

/*
 * When ended spans leave the shipper: a flush sends what it holds, a full batch leaves
 * as it fills, the rest within the delay; the receiver gets each span once, with the
 * attributes as last set.
 */
describe('span shipper: when spans leave', () => {
  const receiver = new OtlpReceiver();
  before(async () => {
    await receiver.start();
  });
  after(async () => {
    await receiver.close();
  });

  const shipper = (maxBatch: number, delayMs: number) =>
    new SpanShipper({ url: `${receiver.url}/v1/traces`, serviceName: 'shipper', protocol: 'http/protobuf' }, delayMs, maxBatch, 1000);

  test('a flush right after the spans end sends them, attributes as last set', async () => {
    const s = shipper(100, 60_000);
    const tracer = new RecordingTracer(new AlwaysOnSampler(), (span) => s.onEnd(span));
    for (let i = 0; i < 3; i++) {
      const span = tracer.startSpan('flushed', { attributes: { n: i, kind: 'first' } }, ROOT_CONTEXT);
      span.setAttribute('kind', 'replaced');
      span.setAttribute('extra', true);
      span.end();
    }
    await s.flush();
    await receiver.waitFor((spans) => spans.filter((x) => x.name === 'flushed').length === 3);
    const got = receiver.spans.filter((x) => x.name === 'flushed');
    assert.deepEqual(got.map((x) => x.attributes.n).sort(), [0, 1, 2]);
    for (const x of got) assert.deepEqual({ ...x.attributes, n: 0 }, { n: 0, kind: 'replaced', extra: true });
    assert.equal(s.stats().exported, 3);
    await s.shutdown();
  });

  test('full batches leave as they fill, the rest within the delay', async () => {
    const s = shipper(10, 50);
    const tracer = new RecordingTracer(new AlwaysOnSampler(), (span) => s.onEnd(span));
    const exportsBefore = receiver.paths.length;
    for (let i = 0; i < 25; i++) tracer.startSpan('batched', {}, ROOT_CONTEXT).end();
    await receiver.waitFor((spans) => spans.filter((x) => x.name === 'batched').length === 25);
    // Two full batches of 10, then the 5 left when the delay ran out.
    assert.equal(receiver.paths.length - exportsBefore, 3);
    assert.deepEqual(s.stats(), { ended: 25, dropped: 0, exported: 25, failed: 0 });
    await s.shutdown();
  });

  test('leaves leave with their span: counted, under it, across a batch boundary', async () => {
    // Batches of 4: a span with five leaves fills one batch and spills into the next.
    const s = shipper(4, 50);
    const tracer = new RecordingTracer(new AlwaysOnSampler(), (span) => s.onEnd(span));
    const parent = tracer.startSpan('with-leaves', {}, ROOT_CONTEXT);
    assert.ok(parent instanceof RecordedSpan);
    const t0 = performance.timeOrigin + performance.now();
    for (let i = 0; i < 5; i++) assert.equal(tracer.leaf(parent, `leaf-${i}`, t0 + i, t0 + i + 0.5), true);
    parent.end();
    await receiver.waitFor((spans) => spans.filter((x) => x.name.startsWith('leaf-')).length === 5);
    const [p] = receiver.spans.filter((x) => x.name === 'with-leaves');
    assert.ok(p);
    const leaves = receiver.spans.filter((x) => x.name.startsWith('leaf-'));
    for (const l of leaves) {
      assert.equal(l.traceId, p.traceId);
      assert.equal(l.parentSpanId, p.spanId);
    }
    assert.equal(new Set(leaves.map((l) => l.spanId)).size, 5, 'each leaf has its own id');
    assert.deepEqual(s.stats(), { ended: 6, dropped: 0, exported: 6, failed: 0 });
    await s.shutdown();
  });
});
