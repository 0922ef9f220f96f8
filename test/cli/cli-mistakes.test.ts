import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FunctionModel } from '../../src/models/function-model.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import type { Tensor } from '../../src/tensor/index.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { CLI, runNode } from '../helpers/spawn.js';

/**
 * Command-line mistakes: each is one line on stderr, "modelpipe: MP_ERR_…: …",
 * exit status 1, and no stack trace.
 */

function assertOneLine(r: { code: number | null; stderr: string }, code: string, message: RegExp): void {
  const lines = r.stderr.trimEnd().split('\n');
  // Servers log JSON lines (pino) before failing; the error is the one non-JSON line.
  const plain = lines.filter((l) => !l.startsWith('{'));
  assert.equal(plain.length, 1, `one line expected, got:\n${r.stderr}`);
  assert.match(plain[0] as string, new RegExp(`^modelpipe: ${code}: `));
  assert.match(plain[0] as string, message);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(r.code, 1);
}

const model = sharedPath('models/mnist.onnx');
const skip = needShared('models/mnist.onnx', 'models/imagenet-labels.txt');

describe('command-line mistakes print one line with a code', () => {
  let busy: Server;
  let port = 0;
  let target: RunningServer;
  const dir = mkdtempSync(join(tmpdir(), 'modelpipe-mistakes-'));

  before(async () => {
    busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    port = (busy.address() as { port: number }).port;
    target = await serveModel(
      new FunctionModel((i) => ({ y: i.x as Tensor }), {
        name: 'identity',
        inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2] }],
        outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2] }],
      }),
    );
  });
  after(async () => {
    busy.close();
    await target.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const inUse = /cannot listen on 127\.0\.0\.1:\d+: address already in use/;
  test('serve on a port in use', { skip }, async () => {
    assertOneLine(await runNode([CLI, 'serve', model, '--listen', `127.0.0.1:${port}`]), 'MP_ERR_ADDRESS_IN_USE', inUse);
  });
  test('batcher on a port in use', async () => {
    assertOneLine(await runNode([CLI, 'batcher', '--target', target.url, '--listen', `127.0.0.1:${port}`]), 'MP_ERR_ADDRESS_IN_USE', inUse);
  });
  test('classy up on a port in use', { skip }, async () => {
    assertOneLine(await runNode([CLI, 'classy', 'up', '--model', model, '--listen-base', String(port)]), 'MP_ERR_ADDRESS_IN_USE', inUse);
  });

  test('infer with a missing --input file', async () => {
    for (const f of ['missing.npy', 'missing.json']) {
      assertOneLine(await runNode([CLI, 'infer', target.url, '--input', f]), 'MP_ERR_BAD_CONFIG', new RegExp(`--input ${f}: no such file`));
    }
  });
  test('infer with an --out directory that does not exist', async () => {
    assertOneLine(
      await runNode([CLI, 'infer', target.url, '--input', '[[1,2]]', '--out', join(dir, 'nope', 'y.npy')]),
      'MP_ERR_BAD_CONFIG',
      /--out .*nope\/y\.npy: directory .*nope does not exist/,
    );
  });
  test('serve --repository on a missing directory', async () => {
    assertOneLine(await runNode([CLI, 'serve', '--repository', './nope']), 'MP_ERR_BAD_CONFIG', /--repository \.\/nope: no such directory/);
  });
  test('serve --value-inputs on a missing file', { skip }, async () => {
    assertOneLine(
      await runNode([CLI, 'serve', model, '--value-inputs', 'missing.json']),
      'MP_ERR_BAD_CONFIG',
      /--value-inputs missing\.json: no such file/,
    );
  });
  test('metadata and infer with a URL without a scheme, while the server is up', async () => {
    const bare = target.url.replace(/^http:\/\//, '');
    const hint = new RegExp(`URL ${bare} has no http:// or https:// scheme \\(did you mean http://${bare}\\?\\)`);
    assertOneLine(await runNode([CLI, 'metadata', bare]), 'MP_ERR_BAD_CONFIG', hint);
    assertOneLine(await runNode([CLI, 'infer', bare, '--input', '[[1,2]]']), 'MP_ERR_BAD_CONFIG', hint);
    const r = await runNode([CLI, 'metadata', target.url]);
    assert.equal(r.code, 0, r.stderr);
  });
  test('classy with an image and neither --model nor --preprocessor says what is missing', async () => {
    assertOneLine(await runNode([CLI, 'classy', 'dog.jpg']), 'MP_ERR_BAD_CONFIG', /classy needs --model FILE .* or --preprocessor URL/);
  });
});
