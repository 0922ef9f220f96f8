import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { schedulerFromFlags } from '../../src/flags/scheduler-flags.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { parseModelConfig } from '../../src/scheduling/config.js';
import { squeezenetInput } from '../helpers/images.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { CLI, startPrintingUrl, stop } from '../helpers/spawn.js';

test('model config files map to scheduler options, and flags override them', () => {
  const file = parseModelConfig({
    dynamic_batching: { max_batch_size: 32, max_queue_delay_us: 5000, preferred_batch_sizes: [16, 32] },
    max_queue_size: 10,
    instances: 2,
  });
  assert.deepEqual(file.scheduler.batching, { maxBatchSize: 32, maxQueueDelayUs: 5000, preferredBatchSizes: [16, 32] });
  assert.equal(file.instances, 2);
  assert.equal(parseModelConfig({ max_abandoned_runs: 3 }).scheduler.maxAbandonedRuns, 3);
  assert.equal(schedulerFromFlags({}, true, file.scheduler).batching?.maxBatchSize, 32);
  assert.equal(schedulerFromFlags({ 'max-batch-size': '8' }, true, file.scheduler).batching?.maxBatchSize, 8);
  assert.equal(schedulerFromFlags({ 'no-batch': true }, true, file.scheduler).batching, undefined);
  assert.equal(schedulerFromFlags({}, true, parseModelConfig({ dynamic_batching: false }).scheduler).batching, undefined);
  assert.equal(schedulerFromFlags({}, false, {}).batching, undefined, 'off by default for fixed-batch models');
  for (const bad of [
    { dynamic_batching: { max_batch_size: -1 } },
    { max_batch: 3 },
    { max_abandoned_runs: -1 },
    { dynamic_batching: { preferred_batch_sizes: [0] } },
    [],
  ]) {
    assert.throws(
      () => parseModelConfig(bad),
      (e: unknown) => e instanceof ModelpipeError && e.code === 'MP_ERR_BAD_CONFIG',
    );
  }
});

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
