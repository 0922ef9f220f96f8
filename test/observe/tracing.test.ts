import assert from 'node:assert/strict';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { ROOT_CONTEXT, TraceFlags, trace } from '@opentelemetry/api';
import { AlwaysOnSampler } from '@opentelemetry/sdk-trace-base';
import { multiRemoteRaw } from '../../src/client/graphpipe-client.js';
import { closeGrpcClients, infer } from '../../src/client/oip-client.js';
import { OipGrpcServer } from '../../src/server/oip-grpc-server.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { runInTrace } from '../../src/observe/run-context.js';
import { startTracing, stopTracing } from '../../src/observe/tracing.js';
import { decodeRequest, encodeInferResponse } from '../../src/protocol/graphpipe/index.js';
import { Flow, graphPipeUrlHandler, withPreprocess } from '../../src/runinference/index.js';
import { hybridSequenced } from '../../src/sequencing/sequencing.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import { type Tensor, fromNested, toNested } from '../../src/tensor/index.js';
import { OtlpReceiver, type ReceivedSpan } from '../helpers/otlp.js';

/**
 * Tracing end to end, in one process: a client → a hybrid-sequenced server (A) → a
 * second server (B), every hop exported over OTLP/HTTP to a receiver on loopback.
 * One trace must hold every hop with the right parents, and a batch span must link
 * the requests merged into it.
 */

const spec = {
  nested: true,
  inputs: [{ name: 'in', dtype: 'float32' as const, shape: [-1] }],
  outputs: [{ name: 'out', dtype: 'float32' as const, shape: [-1] }],
};

/** One row: B's batches are counted in rows. */
const input = (): Tensor[] => [fromNested([1], 'float32')];

function only(spans: ReceivedSpan[], pred: (s: ReceivedSpan) => boolean, what: string): ReceivedSpan {
  const found = spans.filter(pred);
  assert.equal(found.length, 1, `exactly one ${what}: ${JSON.stringify(found, null, 1)}`);
  return found[0] as ReceivedSpan;
}

function childOf(spans: ReceivedSpan[], parent: ReceivedSpan, name: string): ReceivedSpan {
  return only(spans, (s) => s.parentSpanId === parent.spanId && s.name === name, `${name} under ${parent.name}`);
}

describe('tracing on: one trace across a hybrid-sequenced chain', () => {
  const receiver = new OtlpReceiver();
  let b: RunningServer;
  let a: RunningServer;

  before(async () => {
    await receiver.start();
    await startTracing({
      url: `${receiver.url}/v1/traces`,
      serviceName: 'test',
      sampler: new AlwaysOnSampler(),
      samplerName: 'always_on',
      protocol: 'http/json',
    });
    b = await serveModel(new FunctionModel((i) => ({ out: (i.in as number[]).map((x) => x + 1) }), { ...spec, name: 'add' }), {
      // Requests wait (up to 10 s) until three rows share a batch: the chain test sends three at once.
      scheduler: { batching: { maxBatchSize: 3, maxQueueDelayUs: 10_000_000, preferredBatchSizes: [] } },
    });
    a = await serveModel(
      hybridSequenced((i) => ({ out: (i.in as number[]).map((x) => x * 2) }), { ...spec, name: 'double', allowHops: [b.url] }),
    );
  });
  after(async () => {
    await stopTracing();
    await a?.close();
    await b?.close();
    await receiver.close();
  });

  test('client → A request → A hop → B request → queue, batch, compute, encode', async () => {
    // B batches by three: two unrelated requests fill the batch with the chain's hop.
    const [out] = await Promise.all([
      multiRemoteRaw(a.url, input(), { config: b.url }),
      multiRemoteRaw(b.url, input()),
      multiRemoteRaw(b.url, input()),
    ]);
    assert.deepEqual(toNested(out?.[0] as Tensor), [3]);
    await receiver.waitFor((s) => s.filter((x) => x.name === 'modelpipe.encode').length >= 4);
    const spans = receiver.spans;
    assert.ok(
      receiver.paths.every((p) => p === '/v1/traces'),
      receiver.paths.join(),
    );
    const aReq = only(spans, (s) => s.name === 'modelpipe.request' && s.attributes['modelpipe.model'] === 'double', 'request on A');
    const inTrace = spans.filter((s) => s.traceId === aReq.traceId);
    const client = only(inTrace, (s) => s.spanId === aReq.parentSpanId, "the client's span");
    assert.equal(client.name, 'modelpipe.call');
    assert.equal(client.parentSpanId, '', 'the client span is the root');
    assert.equal(aReq.attributes['modelpipe.protocol'], 'graphpipe');
    assert.equal(aReq.attributes['modelpipe.outcome'], 'ok');
    assert.ok(Number(aReq.attributes['modelpipe.request_bytes']) > 0);
    assert.ok(Number(aReq.attributes['modelpipe.response_bytes']) > 0);
    childOf(inTrace, aReq, 'modelpipe.queue');
    childOf(inTrace, aReq, 'modelpipe.encode');
    // A runs the request alone: no batch span, its compute span is the request's child.
    const aCompute = childOf(inTrace, aReq, 'modelpipe.compute');
    assert.equal(aCompute.attributes['modelpipe.batch_requests'], 1);
    const hop = childOf(inTrace, aCompute, 'modelpipe.call');
    assert.equal(hop.attributes['http.response.status_code'], 200);
    const bReq = childOf(inTrace, hop, 'modelpipe.request');
    assert.equal(bReq.attributes['modelpipe.model'], 'add');
    childOf(inTrace, bReq, 'modelpipe.queue');
    childOf(inTrace, bReq, 'modelpipe.encode');
    // B's batch merged three requests: it is a child of one of them and links to all three.
    const batch = only(spans, (s) => s.name === 'modelpipe.batch' && s.attributes['modelpipe.batch_requests'] === 3, 'batch on B');
    const bRequests = spans.filter((s) => s.name === 'modelpipe.request' && s.attributes['modelpipe.model'] === 'add');
    assert.equal(bRequests.length, 3);
    assert.deepEqual(
      batch.links.map((l) => l.spanId).sort(),
      bRequests.map((r) => r.spanId).sort(),
      'the batch links to every request merged into it',
    );
    for (const l of batch.links) assert.equal(l.traceId, bRequests.find((r) => r.spanId === l.spanId)?.traceId);
    assert.ok(bRequests.some((r) => r.spanId === batch.parentSpanId));
    childOf(spans, batch, 'modelpipe.compute');
  });

  test('RunInference: records continue their traceparent; a batch links its records and its remote call carries it', async () => {
    const tp = (t: string, s: string) => `00-${t}-${s}-01`;
    const records = [
      { traceparent: tp('1'.repeat(32), '2'.repeat(16)), v: 1 },
      { traceparent: tp('3'.repeat(32), '4'.repeat(16)), v: 2 },
      { v: 3 },
    ];
    const handler = withPreprocess(graphPipeUrlHandler(b.url), (r: { v: number }) => ({ in: fromNested([r.v], 'float32') }));
    const out = await Flow.from(records).runInference(handler, { minBatchSize: 3, maxBatchSize: 3, maxWaitMs: 10_000 }).collect();
    assert.equal(out.length, 3);
    await receiver.waitFor((s) => s.filter((x) => x.name === 'modelpipe.record').length >= 3);
    const spans = receiver.spans;
    const rec = spans.filter((s) => s.name === 'modelpipe.record');
    assert.deepEqual(
      rec.slice(0, 2).map((r) => [r.traceId, r.parentSpanId]),
      [
        ['1'.repeat(32), '2'.repeat(16)],
        ['3'.repeat(32), '4'.repeat(16)],
      ],
      'records continue the trace they carry',
    );
    assert.equal(rec[2]?.parentSpanId, '', 'a record without one starts its own trace');
    const batch = childOf(spans, rec[0] as ReceivedSpan, 'modelpipe.batch');
    assert.deepEqual(
      batch.links.map((l) => l.spanId),
      rec.map((r) => r.spanId),
    );
    for (const r of rec) childOf(spans, r, 'modelpipe.queue');
    await receiver.waitFor((s) => s.some((x) => x.traceId === batch.traceId && x.name === 'modelpipe.request'));
    const call = childOf(spans, childOf(spans, batch, 'modelpipe.compute'), 'modelpipe.call');
    childOf(receiver.spans, call, 'modelpipe.request');
  });

  test('OIP REST and gRPC read traceparent and send it on (the client layer writes it for both)', async () => {
    const grpc = new OipGrpcServer({ engine: b.engine });
    try {
      const g = `grpc://127.0.0.1:${await grpc.listen(0)}`;
      const x = { in: fromNested([1, 2, 3], 'float32') }; // three rows: a full batch on B
      await infer(b.url, 'add', x);
      await infer(g, 'add', x);
      for (const protocol of ['oip-rest', 'oip-grpc']) {
        await receiver.waitFor((s) => s.some((r) => r.attributes['modelpipe.protocol'] === protocol));
        const req = only(receiver.spans, (r) => r.attributes['modelpipe.protocol'] === protocol, `${protocol} request`);
        const call = only(receiver.spans, (r) => r.spanId === req.parentSpanId, `${protocol} client call`);
        assert.equal(call.name, 'modelpipe.call');
        assert.equal(call.traceId, req.traceId);
        assert.match(String(call.attributes['url.full']), protocol === 'oip-grpc' ? /^grpc:\/\// : /^http:\/\//);
      }
    } finally {
      closeGrpcClients();
      await grpc.close();
    }
  });

  test('a failed request ends its span with the error code', async () => {
    await assert.rejects(multiRemoteRaw(a.url, [fromNested([[1, 2]], 'float32')]));
    await receiver.waitFor((s) => s.some((x) => x.attributes['modelpipe.outcome'] === 'MP_ERR_INPUT_RANK'));
  });

  test('a gRPC request for no such model gets a failed request span', async () => {
    const grpc = new OipGrpcServer({ engine: b.engine });
    try {
      const g = `grpc://127.0.0.1:${await grpc.listen(0)}`;
      await assert.rejects(infer(g, 'no-such-model', { in: fromNested([1], 'float32') }));
      await receiver.waitFor((s) =>
        s.some((r) => r.attributes['modelpipe.protocol'] === 'oip-grpc' && String(r.attributes['modelpipe.outcome']).startsWith('MP_ERR_')),
      );
    } finally {
      closeGrpcClients();
      await grpc.close();
    }
  });

  test('a request answered before its frontend traced it (an undecodable body) still gets a failed request span', async () => {
    const parent = '00-5bf92f3577b34da6a3ce929d0e0e4736-10f067aa0ba902b7-01';
    const res = await fetch(a.url, { method: 'POST', headers: { traceparent: parent }, body: 'not a flatbuffer' });
    assert.ok(res.status >= 400);
    await receiver.waitFor((s) => s.some((x) => x.traceId === '5bf92f3577b34da6a3ce929d0e0e4736'));
    const span = receiver.spans.find((x) => x.traceId === '5bf92f3577b34da6a3ce929d0e0e4736') as ReceivedSpan;
    assert.equal(span.name, 'modelpipe.request');
    assert.equal(span.parentSpanId, '10f067aa0ba902b7', "the caller's span is its parent");
    assert.equal(span.attributes['modelpipe.protocol'], 'graphpipe');
    assert.match(String(span.attributes['modelpipe.outcome']), /^MP_ERR_/);
  });
});

/** A GraphPipe model server that echoes its input and records each request's headers. */
async function headerSpy(): Promise<{ server: Server; url: string; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push(req.headers);
      const msg = decodeRequest(new Uint8Array(Buffer.concat(chunks)), {});
      const outputs = msg.type === 'infer' ? msg.inputs : [];
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(encodeInferResponse({ outputs: [...outputs], errors: [] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, seen };
}

describe('tracing off', () => {
  const receiver = new OtlpReceiver();
  let spy: Awaited<ReturnType<typeof headerSpy>>;
  let a: RunningServer;

  before(async () => {
    await receiver.start();
    spy = await headerSpy();
    a = await serveModel(hybridSequenced((i) => ({ out: i.in as number[] }), { ...spec, name: 'same', allowHops: [spy.url] }));
  });
  after(async () => {
    await a?.close();
    spy?.server.close();
    await receiver.close();
  });

  test('no traceparent goes out unless one came in, and nothing is exported', async () => {
    await multiRemoteRaw(a.url, input(), { config: spy.url });
    assert.equal(spy.seen.length, 1);
    assert.equal(spy.seen[0]?.traceparent, undefined);
    assert.equal(receiver.spans.length, 0);
  });

  test("an incoming traceparent is passed through unchanged to the request's hops", async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const spanId = 'b7ad6b7169203331';
    const caller = trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    await runInTrace(caller, () => multiRemoteRaw(a.url, input(), { config: spy.url }));
    assert.equal(spy.seen.at(-1)?.traceparent, `00-${traceId}-${spanId}-01`);
    assert.equal(receiver.spans.length, 0);
  });
});
