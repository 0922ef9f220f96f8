import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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

/** A Triton-style config.json, as a Triton user brings it (dims leave out the batch dimension). */
const TRITON_CONFIG = {
  name: 'sq',
  platform: 'onnxruntime_onnx',
  max_batch_size: 4,
  input: [{ name: 'data_0', data_type: 'TYPE_FP32', dims: [3, 224, 224] }],
  output: [{ name: 'softmaxout_1', data_type: 'TYPE_FP32', dims: [1000, 1, 1] }],
  dynamic_batching: {
    preferred_batch_size: [2, 4],
    max_queue_delay_microseconds: 300,
    default_queue_policy: {
      timeout_action: 'REJECT',
      default_timeout_microseconds: 5_000_000,
      allow_timeout_override: true,
      max_queue_size: 64,
    },
  },
  instance_group: [{ count: 1, kind: 'KIND_CPU' }],
  parameters: { owner: { string_value: 'vision team' } },
};

/** What /config must echo of TRITON_CONFIG (name and instance group name come from what runs). */
function assertEchoes(got: Record<string, unknown>, name: string): void {
  assert.equal(got.name, name);
  for (const k of ['max_batch_size', 'input', 'output', 'dynamic_batching', 'parameters'] as const) {
    assert.deepEqual(got[k], TRITON_CONFIG[k], k);
  }
  assert.deepEqual(got.instance_group, [{ name, count: 1, kind: 'KIND_CPU' }]);
}

const skipSqueezenet = needShared('models/squeezenet1.1.onnx');

test('serve DIR loads the Triton-style config.json beside the model; /config echoes it', { skip: skipSqueezenet }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelpipe-serve-config-'));
  symlinkSync(sharedPath('models/squeezenet1.1.onnx'), join(dir, 'model.onnx'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(TRITON_CONFIG));
  const s = await startPrintingUrl([CLI, 'serve', dir, '--listen', '127.0.0.1:0']);
  try {
    const res = await fetch(`${s.url}/v2/models/sq/config`);
    assert.equal(res.status, 200);
    assertEchoes((await res.json()) as Record<string, unknown>, 'sq');
    assert.doesNotMatch(s.output(), /deprecated/);
  } finally {
    await stop(s.proc);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve --repository: a Triton-style config.json and an old-style one both load; old names warn once each', {
  skip: skipSqueezenet,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelpipe-repo-config-'));
  const model = (name: string, config: unknown) => {
    mkdirSync(join(dir, name, '1'), { recursive: true });
    symlinkSync(sharedPath('models/squeezenet1.1.onnx'), join(dir, name, '1', 'model.onnx'));
    writeFileSync(join(dir, name, 'config.json'), JSON.stringify(config));
  };
  model('sq', TRITON_CONFIG);
  model('old', {
    batching: { max_batch_size: 4, max_queue_delay_us: 300, preferred_batch_sizes: [2, 4] },
    max_queue: 64,
    timeout_ms: 5000,
  });
  const s = await startPrintingUrl([CLI, 'serve', '--repository', dir, '--listen', '127.0.0.1:0']);
  try {
    const sq = (await fetch(`${s.url}/v2/models/sq/config`).then((r) => r.json())) as Record<string, unknown>;
    assertEchoes(sq, 'sq');
    const old = (await fetch(`${s.url}/v2/models/old/config`).then((r) => r.json())) as Record<string, unknown>;
    for (const k of ['max_batch_size', 'dynamic_batching'] as const) assert.deepEqual(old[k], TRITON_CONFIG[k], k);
    const warnings = s.output().match(/old\/config.json: [a-z_.]+ is deprecated/g) ?? [];
    assert.deepEqual(warnings.sort(), [
      'old/config.json: batching.max_batch_size is deprecated',
      'old/config.json: batching.max_queue_delay_us is deprecated',
      'old/config.json: batching.preferred_batch_sizes is deprecated',
      'old/config.json: max_queue is deprecated',
      'old/config.json: timeout_ms is deprecated',
    ]);
  } finally {
    await stop(s.proc);
    rmSync(dir, { recursive: true, force: true });
  }
});
