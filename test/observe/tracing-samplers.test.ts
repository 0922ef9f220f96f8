import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AlwaysOnSampler, ParentBasedSampler, type Sampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import { GraphPipeClient } from '../../src/client/graphpipe-client.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { startTracing, stopTracing } from '../../src/observe/tracing.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import { fromNested } from '../../src/tensor/index.js';
import { OtlpReceiver } from '../helpers/otlp.js';

/*
 * A request's queue and encode spans are recorded as values on its span when the
 * sampler keeps a sampled span's children without being asked (always_on, every
 * parentbased_* sampler), and as ordinary spans when it must be asked (a bare
 * traceidratio). Either way the collector receives the same four spans under one
 * request span: one table of samplers, one check.
 */

const samplers: { name: string; sampler: Sampler }[] = [
  { name: 'always_on (leaves)', sampler: new AlwaysOnSampler() },
  { name: 'parentbased_always_on (leaves)', sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }) },
  { name: 'traceidratio 1 (asked per child: ordinary spans)', sampler: new TraceIdRatioBasedSampler(1) },
];

for (const { name, sampler } of samplers) {
  describe(`a served request's spans, sampler ${name}`, () => {
    const receiver = new OtlpReceiver();
    let server: RunningServer;
    let client: GraphPipeClient;
    before(async () => {
      await receiver.start();
      await startTracing({
        url: `${receiver.url}/v1/traces`,
        serviceName: 'samplers',
        sampler,
        samplerName: name,
        protocol: 'http/protobuf',
      });
      const spec = { nested: true, name: 'plus', inputs: [{ name: 'in', dtype: 'float32' as const, shape: [-1] }] };
      server = await serveModel(
        new FunctionModel((i) => ({ out: (i.in as number[]).map((x) => x + 1) }), {
          ...spec,
          outputs: [{ name: 'out', dtype: 'float32' as const, shape: [-1] }],
        }),
      );
      client = new GraphPipeClient(server.url);
    });
    after(async () => {
      await stopTracing();
      await client?.close();
      await server?.close();
      await receiver.close();
    });

    test('request, queue, compute and encode, each child under the request', async () => {
      await client.inferRaw(fromNested([1, 2], 'float32'));
      await receiver.waitFor((s) => s.filter((x) => x.name.startsWith('modelpipe.')).length >= 4);
      const req = receiver.spans.find((s) => s.name === 'modelpipe.request');
      assert.ok(req);
      assert.equal(req.attributes['modelpipe.model'], 'plus');
      for (const child of ['modelpipe.queue', 'modelpipe.compute', 'modelpipe.encode']) {
        const c = receiver.spans.filter((s) => s.name === child);
        assert.equal(c.length, 1, child);
        assert.equal(c[0]?.traceId, req.traceId, child);
        assert.equal(c[0]?.parentSpanId, req.spanId, child);
      }
      assert.equal(new Set(receiver.spans.map((s) => s.spanId)).size, receiver.spans.length, 'every span its own id');
    });
  });
}
