import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { trace } from '@opentelemetry/api';
import { httpSource } from '../../src/runinference/http-source.js';
import { traceOfRecord } from '../../src/runinference/record-trace.js';

/*
 * The HTTP source: each record of a POST sent with a `traceparent` header continues
 * that trace, unless the record names its own `traceparent` field. Tracing is off
 * here, so a record's trace is the caller's context passed through: its span context
 * is the header's.
 */

const HEADER = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const OWN = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('HTTP source: a POST traceparent carries over to its records', () => {
  test('records continue the header, a record with its own field keeps it, an untraced POST stays untraced', async () => {
    const src = await httpSource();
    const seen: unknown[] = [];
    const reading = (async () => {
      for await (const r of src) {
        seen.push(r.value);
        await src.acker((k: string) => k).write([r.key]);
      }
    })();
    try {
      const lines = [{ x: 1 }, { x: 2, traceparent: OWN }].map((l) => JSON.stringify(l)).join('\n');
      const traced = await fetch(src.url, { method: 'POST', headers: { traceparent: HEADER, tracestate: 'vendor=v' }, body: `${lines}\n` });
      assert.equal(traced.status, 200);
      const plain = await fetch(src.url, { method: 'POST', body: `${JSON.stringify({ x: 3 })}\n` });
      assert.equal(plain.status, 200);
    } finally {
      await src.close();
      await reading;
    }
    assert.equal(seen.length, 3);
    const ctxOf = (v: unknown) => {
      const t = traceOfRecord(v);
      return t === undefined ? undefined : trace.getSpanContext(t.ctx);
    };
    const first = ctxOf(seen[0]);
    assert.equal(first?.traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(first?.spanId, 'b7ad6b7169203331');
    assert.equal(first?.traceState?.get('vendor'), 'v');
    assert.equal(ctxOf(seen[1])?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736', "a record's own traceparent wins");
    assert.equal(traceOfRecord(seen[2]), undefined, 'no header, no field: untraced');
  });
});
