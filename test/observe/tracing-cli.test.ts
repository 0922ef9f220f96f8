import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { multiRemoteRaw } from '../../src/client/graphpipe-client.js';
import { Tensor } from '../../src/tensor/index.js';
import { OtlpReceiver } from '../helpers/otlp.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { CLI, runNode, startPrintingUrl, stop } from '../helpers/spawn.js';

const skip = needShared('models/mnist.onnx');

/**
 * `modelpipe serve --otlp-endpoint`: the flag turns tracing on in the CLI's server,
 * the ONNX model's compute span names its worker, and a SIGTERM right after a request
 * still exports its spans (the shutdown flushes them).
 */
describe('modelpipe serve --otlp-endpoint', { skip }, () => {
  const receiver = new OtlpReceiver();
  before(() => receiver.start('127.0.0.2')); // its URL is logged before the server's
  after(() => receiver.close());

  test('exports the request, queue, compute and encode spans, flushed on SIGTERM', async () => {
    // Exports only every 10 minutes: the spans can arrive only through the shutdown's flush.
    process.env.OTEL_BSP_SCHEDULE_DELAY = '600000';
    const args = [CLI, 'serve', sharedPath('models/mnist.onnx'), '--listen', '127.0.0.1:0', '--otlp-endpoint', receiver.url];
    // A long wait for the URL: on a loaded machine a server's start has taken over 20 s.
    const s = await startPrintingUrl(args, 60_000).finally(() => delete process.env.OTEL_BSP_SCHEDULE_DELAY);
    try {
      await multiRemoteRaw(s.url, [new Tensor('float32', [1, 1, 28, 28], new Float32Array(784))]);
      assert.equal(receiver.spans.length, 0);
    } finally {
      assert.equal(await stop(s.proc, 'SIGTERM'), 0, s.output());
    }
    await receiver.waitFor((spans) => spans.some((x) => x.name === 'modelpipe.encode'), 5000);
    const names = receiver.spans.map((x) => x.name).sort();
    assert.deepEqual(names, ['modelpipe.compute', 'modelpipe.encode', 'modelpipe.queue', 'modelpipe.request']);
    const compute = receiver.spans.find((x) => x.name === 'modelpipe.compute');
    assert.equal(typeof compute?.attributes['modelpipe.instance'], 'number');
    assert.equal(receiver.spans[0]?.service, 'modelpipe');
    assert.ok(receiver.paths.every((p) => p === '/v1/traces'));
    // The default encoding is the spec's: http/protobuf.
    assert.equal(receiver.protobufExports, receiver.paths.length);
  });
});

/**
 * `modelpipe classy --otlp-endpoint`: a client command traces its whole run as one
 * trace. Its root span holds the stage call, and under it the in-process stages'
 * request spans (the preprocessor's, and the model's behind it).
 */
describe('modelpipe classy --otlp-endpoint', { skip: needShared('models/squeezenet1.1.onnx') || needShared('images/mug227.png') }, () => {
  const receiver = new OtlpReceiver();
  before(() => receiver.start('127.0.0.3'));
  after(() => receiver.close());

  test('one trace: classify → stage call → preprocessor request → model request', async () => {
    const model = sharedPath('models/squeezenet1.1.onnx');
    const image = sharedPath('images/mug227.png');
    const r = await runNode([CLI, 'classy', '--model', model, image, '--otlp-endpoint', receiver.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /class 504/);
    // stopTracing ran before the command exited: the spans are here already, or about to be.
    await receiver.waitFor((s) => s.some((x) => x.name === 'modelpipe.classify'), 5000);
    const root = receiver.spans.find((s) => s.name === 'modelpipe.classify');
    assert.equal(root?.parentSpanId, '');
    const inTrace = receiver.spans.filter((s) => s.traceId === root?.traceId);
    const call = inTrace.find((s) => s.name === 'modelpipe.call' && s.parentSpanId === root?.spanId);
    assert.ok(call, 'the stage call is a child of the root');
    const pre = inTrace.find((s) => s.name === 'modelpipe.request' && s.parentSpanId === call?.spanId);
    assert.ok(pre, "the preprocessor's request continues the call");
    const models = inTrace.filter((s) => s.name === 'modelpipe.request' && s !== pre);
    assert.ok(models.length >= 1, `the model server's request is in the same trace: ${inTrace.map((s) => s.name).join(', ')}`);
  });
});
