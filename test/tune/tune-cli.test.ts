import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseModelConfigText } from '../../src/config/index.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { CLI, runNode, startPrintingUrl, stop } from '../helpers/spawn.js';

const skip = needShared('models/squeezenet1.1.onnx');
const dir = mkdtempSync(join(tmpdir(), 'tune-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The served model's /config answer. */
async function configOf(url: string, model: string): Promise<{ max_batch_size: number; instance_group: { count: number }[] }> {
  const r = await fetch(`${url}/v2/models/${model}/config`);
  assert.equal(r.status, 200);
  return (await r.json()) as { max_batch_size: number; instance_group: { count: number }[] };
}

test('tune picks a config that serve and the repository take unchanged, and reports every trial', { skip, timeout: 180_000 }, async () => {
  const model = sharedPath('models/squeezenet1.1.onnx');
  const out = join(dir, 'out');
  const html = join(dir, 'report.html');
  const json = join(dir, 'report.json');
  // A tiny grid: one instance of one thread, batching off or batch 2; two processes on the finalist.
  const grid = ['--max-instances', '1', '--max-threads', '1', '--batch-sizes', '2', '--delays-us', '500', '--max-processes', '2'];
  const r = await runNode([
    CLI,
    'tune',
    model,
    ...grid,
    '--trial-seconds',
    '1',
    '--confirm',
    '2',
    '--p99-budget',
    '5000',
    '--concurrency',
    '2',
    '--out',
    out,
    '--html',
    html,
    '--json',
    json,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /rows\/s\s+req\/s\s+p50 ms\s+p99 ms\s+verdict/);
  assert.match(r.stdout, /server-wide flags: --processes [12]/);

  // (a) The config parses with the one parser, with no warnings.
  const file = join(out, 'config.json');
  const warnings: string[] = [];
  const config = parseModelConfigText(readFileSync(file, 'utf8'), { warn: (m) => warnings.push(m) });
  assert.deepEqual(warnings, []);
  assert.equal(config.instance_group?.[0]?.count, 1);
  assert.equal(config.modelpipe?.intra_op_threads, 1);
  const report = JSON.parse(readFileSync(json, 'utf8')) as { trials: unknown[]; winner: { config: unknown } };
  assert.deepEqual(report.winner.config, config);
  // Pass 1 (1x1), batching (batch 2), processes 2 if the finalist was within budget, then
  // one confirmation of each of the (at most two) best.
  assert.ok(report.trials.length >= 2 && report.trials.length <= 5, `${report.trials.length} trials`);

  // (c) The HTML page plots one point per trial.
  assert.ok(existsSync(html));
  const page = readFileSync(html, 'utf8');
  assert.equal(page.match(/<circle class="trial"/g)?.length, report.trials.length);
  assert.match(page, /class="budget"/);

  // (b) serve MODEL --model-config FILE serves with the chosen settings.
  const a = await startPrintingUrl([CLI, 'serve', model, '--listen', '127.0.0.1:0', '--model-config', file]);
  try {
    const c = await configOf(a.url, 'squeezenet1.1');
    assert.equal(c.max_batch_size, config.max_batch_size);
    assert.equal(c.instance_group[0]?.count, 1);
  } finally {
    await stop(a.proc);
  }
  // ... and so does a repository with the file beside the model's versions.
  const repo = join(dir, 'repo');
  mkdirSync(join(repo, 'sq', '1'), { recursive: true });
  symlinkSync(model, join(repo, 'sq', '1', 'model.onnx'));
  symlinkSync(file, join(repo, 'sq', 'config.json'));
  const b = await startPrintingUrl([CLI, 'serve', '--repository', repo, '--listen', '127.0.0.1:0']);
  try {
    const c = await configOf(b.url, 'sq');
    assert.equal(c.max_batch_size, config.max_batch_size);
    assert.equal(c.instance_group[0]?.count, 1);
  } finally {
    await stop(b.proc);
  }
});
