import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { remoteRaw } from '../../src/client/graphpipe-client.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { Tensor } from '../../src/tensor/index.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { CLI, startPrintingUrl } from '../helpers/spawn.js';
import { queued } from '../helpers/queue-depth.js';

const skip = needShared('models/squeezenet1.1.onnx');

test('SIGTERM with --drain-timeout answers what is left 503 MP_ERR_DRAIN_TIMEOUT, logs no error and exits 0', { skip }, async () => {
  const s = await startPrintingUrl([
    CLI,
    'serve',
    sharedPath('models/squeezenet1.1.onnx'),
    '--listen',
    '127.0.0.1:0',
    '--no-batch',
    '--drain-timeout',
    '300',
  ]);
  // Sixteen batch-16 requests queue behind one instance: a second or more of work even on
  // a quiet machine, far past 300 ms.
  const input = new Tensor('float32', [16, 3, 224, 224], new Float32Array(16 * 3 * 224 * 224));
  const calls = Array.from({ length: 16 }, () =>
    remoteRaw(s.url, input).then(
      () => 'ok',
      (e: unknown) => e,
    ),
  );
  // SIGTERM once work is queued (read from the server's own gauge), not after a guess.
  for (let t = Date.now(); Date.now() - t < 30_000 && (await queued(s.url)) < 2; ) await new Promise((r) => setTimeout(r, 50));
  const t0 = performance.now();
  s.proc.kill('SIGTERM');
  const [code] = (await once(s.proc, 'exit')) as [number | null];
  const stoppedMs = performance.now() - t0;
  const got = await Promise.all(calls);
  assert.equal(code, 0, s.output());
  const refused = got.filter((g) => g !== 'ok');
  assert.ok(refused.length > 0, 'every request finished inside 300 ms: the test proves nothing');
  // Still uploading at SIGTERM: refused at once (shutting down); queued or running: the deadline.
  const codes = refused.map((e) => (e instanceof ModelpipeError ? e.code : String(e)));
  assert.ok(codes.includes('MP_ERR_DRAIN_TIMEOUT'), codes.join(' '));
  // A request whose connection was not yet made when the listener closed cannot connect:
  // on a loaded machine some of the twelve may still be that far behind.
  assert.ok(
    codes.every((c) => c === 'MP_ERR_DRAIN_TIMEOUT' || c === 'MP_ERR_SHUTTING_DOWN' || c === 'MP_ERR_CONNECT'),
    codes.join(' '),
  );
  assert.ok(stoppedMs < 20_000, `stopped after ${stoppedMs} ms`);
  assert.doesNotMatch(s.output(), /"level":50/);
});
