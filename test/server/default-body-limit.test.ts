import assert from 'node:assert/strict';
import { test } from 'node:test';
import { multiRemoteRaw } from '../../src/client/graphpipe-client.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { serve } from '../../src/server/serve.js';
import { Tensor } from '../../src/tensor/index.js';

// A 64 MiB tensor is a 67 109 000-byte request: the default limit must take it (it once
// was exactly 64 MiB and refused it), and a refusal says what the limit counts.
test('the default body limit takes a 64 MiB tensor; a refusal names the limit and the flag', { timeout: 120_000 }, async () => {
  const srv = await serve((inputs) => ({ n: Tensor.fromStrings([String((inputs.x as Tensor).byteLength)], [1]) }), {
    name: 'count',
    inputs: [{ name: 'x', dtype: 'float32', shape: [-1, -1] }],
    outputs: [{ name: 'n', dtype: 'string', shape: [1] }],
  });
  try {
    const big = new Tensor('float32', [16384, 1024], new Float32Array(16384 * 1024));
    const [n] = await multiRemoteRaw(srv.url, [big]);
    assert.deepEqual((n as Tensor).strings(), [String(64 * 1024 * 1024)]);
    const over = new Tensor('float32', [16384 + 512, 1024], new Float32Array((16384 + 512) * 1024));
    await assert.rejects(multiRemoteRaw(srv.url, [over]), (e: unknown) => {
      assert.ok(e instanceof ModelpipeError && e.code === 'MP_ERR_BODY_TOO_LARGE', String(e));
      assert.match(
        e.message,
        /exceeds the limit of 68157440 bytes \(65\.0 MiB for the whole message, tensor data and envelope; the server's --body-limit sets it\)/,
      );
      return true;
    });
  } finally {
    await srv.close();
  }
});
