import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { infer, modelMetadata } from '../../src/client/oip-client.js';
import { Tensor } from '../../src/tensor/index.js';
import { argmax } from '../helpers/images.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { CLI, startPrintingUrl, stop } from '../helpers/spawn.js';

/** `modelpipe serve FILE --labels LABELS`: the classification extension names classes from the file. */

const skip = needShared('models/mnist.onnx');

describe('modelpipe serve --labels', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-labels-'));
  let proc: ChildProcess | undefined;
  let url = '';
  before(async () => {
    const labels = join(dir, 'digits.txt');
    writeFileSync(labels, `${Array.from({ length: 10 }, (_, i) => `digit ${i}`).join('\n')}\n`);
    const s = await startPrintingUrl([CLI, 'serve', sharedPath('models/mnist.onnx'), '--listen', '127.0.0.1:0', '--labels', labels]);
    proc = s.proc;
    url = s.url;
  });
  after(async () => {
    await stop(proc);
    rmSync(dir, { recursive: true, force: true });
  });

  test('top-3 carry the labels of their indices, in the order of the raw scores', async () => {
    const md = await modelMetadata(url, 'mnist');
    const input = md.inputs[0];
    const output = md.outputs[0]?.name as string;
    assert.ok(input);
    const x = new Tensor(
      'float32',
      [1, 1, 28, 28],
      Float32Array.from({ length: 784 }, (_, i) => ((i * 7) % 13) / 13),
    );
    const top = await infer(url, 'mnist', { [input.name]: x }, { outputs: [output], classification: 3 });
    const raw = await infer(url, 'mnist', { [input.name]: x }, { outputs: [output] });
    const best = argmax(raw.outputs[output]?.data as Float32Array);
    const strings = (top.outputs[output]?.data ?? []) as Uint8Array[];
    const first = Buffer.from(strings[0] as Uint8Array).toString();
    assert.match(first, new RegExp(`^-?\\d+\\.\\d{6}:${best}:digit ${best}$`));
    assert.equal(strings.length, 3);
  });
});
