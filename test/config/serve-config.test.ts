import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { squeezenetInput } from '../helpers/images.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { CLI, startPrintingUrl, stop } from '../helpers/spawn.js';

test('serve --cache answers a repeated request from the row cache', {
  skip: needShared('models/squeezenet1.1.onnx', 'images/mug227.png'),
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelpipe-cli-cache-'));
  const cfg = join(dir, 'model.json');
  writeFileSync(cfg, JSON.stringify({ dynamic_batching: false }));
  const s = await startPrintingUrl([
    CLI,
    'serve',
    sharedPath('models/squeezenet1.1.onnx'),
    '--listen',
    '127.0.0.1:0',
    '--cache',
    '--cache-dir',
    join(dir, 'rows'),
    '--model-config',
    cfg,
  ]);
  try {
    const { remoteRaw } = await import('../../src/client/graphpipe-client.js');
    const mug = await squeezenetInput(sharedPath('images/mug227.png'));
    const a = await remoteRaw(s.url, mug);
    await new Promise((r) => setTimeout(r, 100));
    const b = await remoteRaw(s.url, mug);
    assert.deepEqual(Array.from(b.data as Float32Array), Array.from(a.data as Float32Array));
    const m = await fetch(`${s.url}/metrics`).then((r) => r.text());
    assert.match(m, /modelpipe_cache_rows_total\{model="squeezenet1.1",result="hit"\} 1/);
    assert.match(s.output(), /"batching":"off","cache":"on"/);
  } finally {
    await stop(s.proc);
    rmSync(dir, { recursive: true, force: true });
  }
});
