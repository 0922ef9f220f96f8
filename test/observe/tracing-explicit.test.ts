import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { AlwaysOnSampler } from '@opentelemetry/sdk-trace-base';
import { GraphPipeClient, multiRemoteRaw } from '../../src/client/graphpipe-client.js';
import { type ApplyFn, FunctionModel } from '../../src/models/function-model.js';
import { startTracing, stopTracing } from '../../src/observe/tracing.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import { type Tensor, fromNested, toNested } from '../../src/tensor/index.js';
import { OtlpReceiver, type ReceivedSpan } from '../helpers/otlp.js';

/*
 * A model run carries its trace context explicitly (RunRequest.trace,
 * ApplyContext.trace), not through an AsyncLocalStorage. A user's function model that
 * calls another server continues the request's trace: by itself for a call made before
 * its first await, and with the client option `{ trace: ctx.trace }` after one. A call
 * made after an await without it starts a trace of its own: that is the documented
 * price of not taxing every promise in the process.
 */

const spec = {
  nested: true,
  inputs: [{ name: 'in', dtype: 'float32' as const, shape: [-1] }],
  outputs: [{ name: 'out', dtype: 'float32' as const, shape: [-1] }],
};

describe('function models pass their trace context on explicitly', () => {
  const receiver = new OtlpReceiver();
  let b: RunningServer;
  const fronts: RunningServer[] = [];
  let client: GraphPipeClient;

  const front = async (name: string, apply: ApplyFn): Promise<RunningServer> => {
    const s = await serveModel(new FunctionModel(apply, { ...spec, name }));
    fronts.push(s);
    return s;
  };

  before(async () => {
    await receiver.start();
    await startTracing({
      url: `${receiver.url}/v1/traces`,
      serviceName: 'explicit',
      sampler: new AlwaysOnSampler(),
      samplerName: 'always_on',
      protocol: 'http/protobuf',
    });
    b = await serveModel(new FunctionModel((i) => ({ out: (i.in as number[]).map((x) => x + 1) }), { ...spec, name: 'b' }));
    client = new GraphPipeClient(b.url);
  });
  after(async () => {
    await stopTracing();
    await client?.close();
    for (const s of fronts) await s.close();
    await b?.close();
    await receiver.close();
  });

  const tick = () => new Promise((r) => setTimeout(r, 2));
  const hop = async (x: unknown, trace?: unknown): Promise<unknown> =>
    toNested(await client.inferRaw(fromNested(x as number[], 'float32'), trace === undefined ? {} : { trace: trace as never }));

  /** The B request under `model`'s compute span, or the B request alone in a trace of its own. */
  async function bRequestOf(model: string): Promise<{ compute: ReceivedSpan; bReq: ReceivedSpan }> {
    const aReqOf = (s: ReceivedSpan[]) => s.find((x) => x.name === 'modelpipe.request' && x.attributes['modelpipe.model'] === model);
    const computeOf = (s: ReceivedSpan[]) => s.find((x) => x.name === 'modelpipe.compute' && x.parentSpanId === aReqOf(s)?.spanId);
    await receiver.waitFor((s) => computeOf(s) !== undefined);
    const compute = computeOf(receiver.spans) as ReceivedSpan;
    await receiver.waitFor(
      (s) => s.filter((x) => x.name === 'modelpipe.request' && x.attributes['modelpipe.model'] === 'b').length >= fronts.length,
    );
    const bReqs = receiver.spans.filter((s) => s.name === 'modelpipe.request' && s.attributes['modelpipe.model'] === 'b');
    const calls = receiver.spans.filter((s) => s.name === 'modelpipe.call');
    const underCompute = calls.find((c) => c.parentSpanId === compute.spanId);
    const bReq = (underCompute ? bReqs.find((r) => r.parentSpanId === underCompute.spanId) : bReqs[bReqs.length - 1]) as ReceivedSpan;
    return { compute, bReq };
  }

  test('a call before the first await continues the trace by itself', async () => {
    const a = await front('sync-call', (i) => hop(i.in) as never);
    const out = await multiRemoteRaw(a.url, [fromNested([1], 'float32')]);
    assert.deepEqual(toNested(out[0] as Tensor), [2]);
    const { compute, bReq } = await bRequestOf('sync-call');
    assert.equal(bReq.traceId, compute.traceId);
  });

  test('a call through an endpoint set records each retry as an event on the span it continues', async () => {
    // Round-robin over [draining, b]: of two calls, one starts on the endpoint that answers 503 and is retried on b.
    const draining = createServer((req, res) => res.writeHead(req.url === '/health/ready' ? 200 : 503).end());
    await new Promise<void>((r) => draining.listen(0, '127.0.0.1', r));
    const set = new GraphPipeClient(`http://127.0.0.1:${(draining.address() as { port: number }).port},${b.url}`, {
      endpoints: { balance: 'round-robin' },
    });
    try {
      const a = await front('retrying-call', async (i, _c, ctx) => {
        await tick();
        return toNested(await set.inferRaw(fromNested(i.in as number[], 'float32'), { trace: ctx.trace })) as never;
      });
      for (let k = 0; k < 2; k++) await multiRemoteRaw(a.url, [fromNested([1], 'float32')]);
      await receiver.waitFor((s) => s.some((x) => x.name === 'modelpipe.compute' && x.events.includes('modelpipe.retry')));
    } finally {
      await set.close();
      await new Promise((r) => draining.close(r));
    }
  });

  test('after an await, the call continues it when given ctx.trace', async () => {
    const a = await front('explicit-call', async (i, _c, ctx) => {
      await tick();
      return hop(i.in, ctx.trace) as never;
    });
    await multiRemoteRaw(a.url, [fromNested([1], 'float32')]);
    const { compute, bReq } = await bRequestOf('explicit-call');
    assert.equal(bReq.traceId, compute.traceId);
  });
});
