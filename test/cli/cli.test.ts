import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseNpy, toNpy } from '../../src/tensor/index.js';
import { argmax, squeezenetInput } from '../helpers/images.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { CLI, runNode, startPrintingUrl, stop } from '../helpers/spawn.js';

const skip = needShared('models/squeezenet1.1.onnx', 'images/mug227.png');

describe('the modelpipe CLI against a served squeezenet', { skip }, () => {
  let proc: ChildProcess | undefined;
  let url = '';
  const dir = mkdtempSync(join(tmpdir(), 'modelpipe-cli-'));
  before(async () => {
    const s = await startPrintingUrl([CLI, 'serve', sharedPath('models/squeezenet1.1.onnx'), '--listen', '127.0.0.1:0']);
    proc = s.proc;
    url = s.url;
  });
  after(async () => {
    await stop(proc);
    rmSync(dir, { recursive: true, force: true });
  });

  test('metadata prints the model as JSON', async () => {
    const r = await runNode([CLI, 'metadata', url]);
    assert.equal(r.code, 0, r.stderr);
    const md = JSON.parse(r.stdout) as { name: string; inputs: { name: string; shape: number[] }[] };
    assert.equal(md.name, 'squeezenet1.1');
    assert.deepEqual(md.inputs[0]?.shape, [-1, 3, 224, 224]);
  });

  test('infer classifies the mug from a .npy file, printing JSON and writing .npy', async () => {
    const input = join(dir, 'mug.npy');
    writeFileSync(input, toNpy(await squeezenetInput(sharedPath('images/mug227.png'))));
    const r = await runNode([CLI, 'infer', url, '--input', input]);
    assert.equal(r.code, 0, r.stderr);
    const probs = (JSON.parse(r.stdout) as number[][][][])[0]?.map((x) => x[0]?.[0] as number) ?? [];
    assert.equal(probs.length, 1000);
    assert.equal(argmax(probs), 504);
    const out = join(dir, 'out.npy');
    const w = await runNode([CLI, 'infer', url, '--input', input, '--output-name', 'softmaxout_1', '--out', out]);
    assert.equal(w.code, 0, w.stderr);
    const t = parseNpy(readFileSync(out));
    assert.deepEqual(t.shape, [1, 1000, 1, 1]);
    assert.equal(argmax(t.data as Float32Array), 504);
  });

  test('infer reports server errors with their code and exits non-zero', async () => {
    const r = await runNode([CLI, 'infer', url, '--input', '[[1,2]]']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /MP_ERR_INPUT_RANK: .*input data_0 expects rank 4/);
  });

  test('SIGTERM stops the server gracefully with exit code 0', async () => {
    const s = await startPrintingUrl([CLI, 'serve', sharedPath('models/squeezenet1.1.onnx'), '--listen', '127.0.0.1:0']);
    assert.equal(await stop(s.proc, 'SIGTERM'), 0);
  });

  test('flags can come from MODELPIPE_* environment variables', async () => {
    const r = await runNode([CLI, 'serve', sharedPath('models/squeezenet1.1.onnx')], { MODELPIPE_DEVICE: 'tpu' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--device must be cpu or cuda, got tpu/);
  });
});

test('a model URL is downloaded once into the cache, checked and reused', { skip: needShared('models/mnist.onnx') }, async () => {
  const { createServer } = await import('node:http');
  const { createHash } = await import('node:crypto');
  const bytes = readFileSync(sharedPath('models/mnist.onnx'));
  let hits = 0;
  const srv = createServer((_req, res) => {
    hits++;
    res.writeHead(200, { 'content-length': bytes.length });
    res.end(bytes);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const modelUrl = `http://127.0.0.1:${(srv.address() as { port: number }).port}/models/mnist.onnx`;
  const cache = mkdtempSync(join(tmpdir(), 'modelpipe-cache-'));
  const { resolveModelSource } = await import('../../src/models/source.js');
  try {
    const sha = createHash('sha256').update(bytes).digest('hex');
    const p1 = await resolveModelSource(modelUrl, { cacheDir: cache, sha256: sha });
    const p2 = await resolveModelSource(modelUrl, { cacheDir: cache, sha256: sha });
    assert.equal(p1, p2);
    assert.equal(hits, 1);
    assert.deepEqual(readFileSync(p1), bytes);
    await assert.rejects(resolveModelSource(`${modelUrl}?v=2`, { cacheDir: cache, sha256: '0'.repeat(64) }), /SHA-256 .* expected 0000/);
    // The CLI serves from the URL too.
    const s = await startPrintingUrl([CLI, 'serve', modelUrl, '--download-dir', cache, '--listen', '127.0.0.1:0']);
    const r = await runNode([CLI, 'metadata', s.url]);
    assert.match(r.stdout, /"Input3"/);
    await stop(s.proc);
  } finally {
    srv.close();
    rmSync(cache, { recursive: true, force: true });
  }
});
