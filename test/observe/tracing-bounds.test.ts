import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { AlwaysOnSampler } from '@opentelemetry/sdk-trace-base';
import { FunctionModel } from '../../src/models/function-model.js';
import { traceConfigFrom } from '../../src/observe/trace-config.js';
import { SPAN, commandTrace, endRequest, startTracing, stopTracing } from '../../src/observe/tracing.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import { sampleSum } from '../helpers/prom.js';

/*
 * A collector that takes the connection and never answers: what waits for it is
 * bounded (32768 spans by default), the rest is dropped and counted in every server's /metrics,
 * and a stop does not hang on it.
 */
describe('tracing against a collector that never answers', () => {
  let silent: Server;
  let url = '';
  /** Export requests the collector has seen (their headers arrived). */
  let requests = 0;
  let srv: RunningServer;

  before(async () => {
    silent = createServer(() => {
      requests++; // reads nothing, answers nothing
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(silent.address() as { port: number }).port}/v1/traces`;
    srv = await serveModel(
      new FunctionModel((i) => ({ out: i.in as number[] }), {
        name: 'id',
        nested: true,
        inputs: [{ name: 'in', dtype: 'float32', shape: [-1] }],
        outputs: [{ name: 'out', dtype: 'float32', shape: [-1] }],
      }),
    );
  });
  after(async () => {
    await srv?.close();
    silent.closeAllConnections();
    await new Promise((r) => silent.close(r));
  });

  test('holds at most 32768 spans, drops and counts the rest, and stops within its bound', async () => {
    await startTracing({ url, serviceName: 'bounds', sampler: new AlwaysOnSampler(), samplerName: 'always_on', protocol: 'http/protobuf' });
    for (let i = 0; i < 40_000; i++) endRequest(commandTrace(SPAN.classify, {}));
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    assert.equal(sampleSum(text, 'modelpipe_trace_spans_total', /outcome="ended"/), 40_000);
    assert.equal(sampleSum(text, 'modelpipe_trace_spans_total', /outcome="dropped"/), 40_000 - 32768);
    assert.equal(sampleSum(text, 'modelpipe_trace_spans_total', /outcome="exported"/), 0);
    const t0 = Date.now();
    await stopTracing(1000);
    assert.ok(Date.now() - t0 < 3000, 'the stop waited for the silent collector only as long as its bound');
    const off = await (await fetch(`${srv.url}/metrics`)).text();
    assert.equal(sampleSum(off, 'modelpipe_trace_spans_total'), 0, 'tracing off: no samples');
  });

  test('OTEL_BSP_MAX_QUEUE_SIZE and OTEL_BSP_MAX_EXPORT_BATCH_SIZE set the bound and the batches', async () => {
    // A queue of 100 in batches of 10: ten exports wait on the silent collector, the rest is dropped.
    const config = traceConfigFrom({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: url,
      OTEL_BSP_MAX_QUEUE_SIZE: '100',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '10',
    });
    assert.ok(config);
    await startTracing(config);
    requests = 0;
    for (let i = 0; i < 1000; i++) endRequest(commandTrace(SPAN.classify, {}));
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    assert.equal(sampleSum(text, 'modelpipe_trace_spans_total', /outcome="dropped"/), 900);
    assert.equal(sampleSum(text, 'modelpipe_trace_spans_total', /outcome="failed"/), 0, 'no export was refused for concurrency');
    // Batches of 10: the 100 spans left as ten export requests (with the default 8192, none would have left yet).
    for (let t = 0; t < 100 && requests < 10; t++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(requests, 10);
    await stopTracing(1000);
  });
});
