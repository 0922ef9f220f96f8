import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { multiRemoteRaw } from '../../src/client/graphpipe-client.js';
import { Tensor } from '../../src/tensor/index.js';
import { OtlpReceiver } from '../helpers/otlp.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { CLI, startPrintingUrl, stop } from '../helpers/spawn.js';

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
