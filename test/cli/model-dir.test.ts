import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ModelpipeError } from '../../src/errors/index.js';
import { modelFileOf } from '../../src/models/source.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { CLI, runNode, startPrintingUrl, stop } from '../helpers/spawn.js';

const tmp = mkdtempSync(join(tmpdir(), 'mp-model-dir-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function dir(name: string, files: string[]): string {
  const d = join(tmp, name);
  mkdirSync(d, { recursive: true });
  for (const f of files) writeFileSync(join(d, f), 'x');
  return d;
}

test('a directory with exactly one *.onnx file stands for that file; files and folders beside it are ignored', () => {
  const d = dir('one', ['model.onnx', 'README.txt', '.hidden']);
  mkdirSync(join(d, 'sub.onnx'));
  assert.equal(modelFileOf(d), join(d, 'model.onnx'));
  // A file or URL is returned as it is.
  assert.equal(modelFileOf(join(d, 'model.onnx')), join(d, 'model.onnx'));
  assert.equal(modelFileOf('https://example.invalid/m.onnx'), 'https://example.invalid/m.onnx');
});

test('a directory with no or several *.onnx files is refused with MP_ERR_MODEL_LOAD naming what it found', () => {
  const none = dir('none', ['weights.bin']);
  const many = dir('many', ['a.onnx', 'b.ONNX']);
  assert.throws(
    () => modelFileOf(none),
    (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_MODEL_LOAD' && /no \*\.onnx file/.test(e.message),
  );
  assert.throws(
    () => modelFileOf(many),
    (e: unknown) =>
      e instanceof ModelpipeError && e.code === 'MP_ERR_MODEL_LOAD' && /2 \*\.onnx files \(a\.onnx, b\.ONNX\)/.test(e.message),
  );
});

test('serve DIR with no model prints one line with the code and exits 1', async () => {
  const r = await runNode([CLI, 'serve', dir('empty', []), '--listen', '127.0.0.1:0']);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] as string, /^modelpipe: MP_ERR_MODEL_LOAD: model directory .* holds no \*\.onnx file/);
});

test('serve DIR serves its one model under the name MODELPIPE_NAME gives', { skip: needShared('models/mnist.onnx') }, async () => {
  const d = join(tmp, 'mnt-models');
  mkdirSync(d);
  copyFileSync(sharedPath('models/mnist.onnx'), join(d, 'model.onnx'));
  const prev = process.env.MODELPIPE_NAME;
  process.env.MODELPIPE_NAME = 'digits';
  let s: Awaited<ReturnType<typeof startPrintingUrl>> | undefined;
  try {
    s = await startPrintingUrl([CLI, 'serve', d, '--listen', '127.0.0.1:0']);
  } finally {
    if (prev === undefined) delete process.env.MODELPIPE_NAME;
    else process.env.MODELPIPE_NAME = prev;
  }
  try {
    const res = await fetch(`${s.url}/v2/models/digits`);
    assert.equal(res.status, 200);
    const meta = (await res.json()) as { name: string; inputs: unknown[] };
    assert.equal(meta.name, 'digits');
    assert.equal(meta.inputs.length, 1);
    assert.equal((await fetch(`${s.url}/v2/models/model`)).status, 404);
  } finally {
    assert.equal(await stop(s.proc), 0, s.output());
  }
});
