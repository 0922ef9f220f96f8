import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { parseCsv, runPipelineDef, validatePipelineDef } from '../../src/runinference/index.js';
import { streamBatchingOf } from '../../src/runinference/pipeline-def.js';

const handlers = fileURLToPath(new URL('../fixtures/runinference/def-handlers.js', import.meta.url));
let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runinf-defs-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const run = (def: unknown) => runPipelineDef(validatePipelineDef({ progress: false, summary: false, ...(def as object) }));

describe('pipeline definitions: sinks, sources, batching', () => {
  it('the CSV sink writes a record of tensors as nested arrays, as JSONL does (defect 4)', async () => {
    await writeFile(join(dir, 'in.jsonl'), '{"x":1}\n{"x":2}\n');
    const handler = { type: 'module', path: handlers, export: 'tensors' };
    await run({ source: { type: 'jsonl', path: join(dir, 'in.jsonl') }, handler, sink: { type: 'csv', path: join(dir, 'out.csv') } });
    await run({ source: { type: 'jsonl', path: join(dir, 'in.jsonl') }, handler, sink: { type: 'jsonl', path: join(dir, 'out.jsonl') } });
    const [head, ...rows] = parseCsv(await readFile(join(dir, 'out.csv'), 'utf8')).filter((r) => r.length > 1);
    const col = (head as string[]).indexOf('inference');
    const fromCsv = rows.map((r) => JSON.parse(r[col] as string));
    const fromJsonl = (await readFile(join(dir, 'out.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { inference: unknown }).inference);
    assert.deepEqual(fromCsv, [{ out: [[1, 1.5]] }, { out: [[2, 2.5]] }]);
    assert.deepEqual(fromCsv, fromJsonl);
  });

  it('a bad line in a JSONL source is a dead letter with its position; the other lines are written (defect 6)', async () => {
    const lines = Array.from({ length: 30 }, (_, i) => (i === 21 ? '{"x": 21,' : JSON.stringify({ x: i })));
    await writeFile(join(dir, 'digits.jsonl'), `${lines.join('\n')}\n`);
    const report = await run({
      source: { type: 'jsonl', path: join(dir, 'digits.jsonl') },
      handler: { type: 'module', path: handlers, export: 'batchSize' },
      sink: { type: 'jsonl', path: join(dir, 'digits-out.jsonl') },
      deadLetter: { type: 'jsonl', path: join(dir, 'digits-dead.jsonl') },
    });
    assert.equal(report.items, 29);
    assert.equal(report.deadLetters, 1);
    const dead = JSON.parse(await readFile(join(dir, 'digits-dead.jsonl'), 'utf8')) as { code: string; message: string };
    assert.equal(dead.code, 'MP_ERR_SOURCE');
    assert.match(dead.message, /digits\.jsonl:22: invalid JSON/);
  });

  it('a bad line past maxFailureRatio still fails the run', async () => {
    await writeFile(join(dir, 'mostly-bad.jsonl'), 'x\ny\n{"x":1}\n');
    await assert.rejects(
      run({
        source: { type: 'jsonl', path: join(dir, 'mostly-bad.jsonl') },
        handler: { type: 'module', path: handlers, export: 'batchSize' },
        sink: { type: 'jsonl', path: join(dir, 'mb-out.jsonl') },
        maxFailureRatio: 0.1,
        minExamplesForRatio: 2,
      }),
      (e: unknown) => (e as { code?: string }).code === 'MP_ERR_FAILURE_RATIO',
    );
  });

  it('a files source with only maxBatchSize fills batches to it (defect 5)', async () => {
    await mkdir(join(dir, 'imgs'));
    for (let i = 0; i < 20; i++) await writeFile(join(dir, 'imgs', `${String(i).padStart(2, '0')}.bin`), `file ${i}`);
    await run({
      source: { type: 'files', glob: join(dir, 'imgs', '*.bin') },
      handler: { type: 'module', path: handlers, export: 'batchSize' },
      batching: { maxBatchSize: 8 },
      sink: { type: 'jsonl', path: join(dir, 'sizes.jsonl') },
    });
    const sizes = (await readFile(join(dir, 'sizes.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { inference: number }).inference);
    assert.deepEqual(sizes, [...Array(16).fill(8), ...Array(4).fill(4)]);
  });

  it('model_config (Triton names) batches a files source exactly as the old camelCase batching did', async () => {
    await mkdir(join(dir, 'imgs2'));
    for (let i = 0; i < 20; i++) await writeFile(join(dir, 'imgs2', `${String(i).padStart(2, '0')}.bin`), `file ${i}`);
    await run({
      source: { type: 'files', glob: join(dir, 'imgs2', '*.bin') },
      handler: { type: 'module', path: handlers, export: 'batchSize' },
      model_config: { max_batch_size: 8 },
      sink: { type: 'jsonl', path: join(dir, 'sizes2.jsonl') },
    });
    const sizes = (await readFile(join(dir, 'sizes2.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { inference: number }).inference);
    assert.deepEqual(sizes, [...Array(16).fill(8), ...Array(4).fill(4)]);
  });

  it('progress with a stdout sink on a terminal prints plain lines, not a redrawn bar (defect 10)', (t) => {
    if (spawnSync('script', ['--version']).error)
      assert.fail('the `script` command (util-linux, package bsdutils) is needed for this test');
    const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
    const path = join(dir, 'tty.json');
    return (async () => {
      await writeFile(join(dir, 'tty.jsonl'), '{"x":1}\n{"x":2}\n');
      await writeFile(
        path,
        JSON.stringify({
          source: { type: 'jsonl', path: join(dir, 'tty.jsonl') },
          handler: { type: 'module', path: handlers, export: 'batchSize' },
          sink: { type: 'stdout' },
          summary: false,
        }),
      );
      // stdout and stderr on one pseudo-terminal, as in an interactive shell.
      const r = spawnSync('script', ['-q', '-e', '-c', `${process.execPath} ${cli} run ${path}`, '/dev/null'], { encoding: 'utf8' });
      t.diagnostic(JSON.stringify(r.stdout));
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /"inference":2/);
      assert.ok(!r.stdout.includes('\u001b[K'), 'a redrawn bar was drawn between the output lines');
      assert.match(r.stdout, /run .*2 items/);
    })();
  });
});

describe('pipeline definitions: model_config and the old batching spellings', () => {
  const base = { source: { type: 'stdin' }, handler: { type: 'onnx', model: 'm.onnx' }, sink: { type: 'stdout' } };
  const check = (extra: object) => {
    const warnings: string[] = [];
    const def = validatePipelineDef({ ...base, ...extra }, { warn: (m) => warnings.push(m) });
    return { def, warnings };
  };

  it('new and old spellings give the same stream batching; each old field warns once', () => {
    const now = check({
      model_config: {
        max_batch_size: 16,
        dynamic_batching: { max_queue_delay_microseconds: 20_000 },
        modelpipe: { min_batch_size: 2, max_batch_weight: 50 },
      },
    });
    const old = check({ batching: { maxBatchSize: 16, maxWaitMs: 20, minBatchSize: 2, maxBatchWeight: 50 } });
    assert.deepEqual(streamBatchingOf(now.def), { maxBatchSize: 16, maxWaitMs: 20, minBatchSize: 2, maxBatchWeight: 50 });
    assert.deepEqual(streamBatchingOf(old.def), streamBatchingOf(now.def));
    assert.equal(old.def.batching, undefined, 'the old spelling is folded into model_config');
    assert.deepEqual(now.warnings, []);
    assert.equal(old.warnings.length, 4, old.warnings.join('\n'));
    for (const f of ['maxBatchSize', 'maxWaitMs', 'minBatchSize', 'maxBatchWeight']) {
      assert.equal(old.warnings.filter((w) => w.includes(`batching.${f} is deprecated`)).length, 1, f);
    }
  });

  it('a checked definition checks again to itself (a worker reads the file its supervisor wrote)', () => {
    for (const extra of [
      { model_config: { max_batch_size: 64, dynamic_batching: { max_queue_delay_microseconds: 20_000 } } },
      { model_config: { instance_group: [{ count: 2, kind: 'KIND_CPU' }] } },
      { batching: { maxBatchSize: 8, maxWaitMs: 5 } },
    ]) {
      const once = check(extra);
      const warnings: string[] = [];
      const twice = validatePipelineDef(JSON.parse(JSON.stringify(once.def)), { warn: (m) => warnings.push(m) });
      assert.deepEqual(twice, once.def, JSON.stringify(extra));
      assert.deepEqual(warnings, [], 'no deprecation warning for the derived batching');
    }
  });

  it("instance_group's count is an onnx handler's workers", () => {
    const { def } = check({ model_config: { instance_group: [{ count: 3, kind: 'KIND_CPU' }] } });
    assert.equal((def.handler as { workers?: number }).workers, 3);
  });

  it('malformed fields fail with MP_ERR_PIPELINE_DEF naming the field as written', () => {
    for (const [extra, message] of [
      [{ batching: { maxBatchSize: 0 } }, /batching\.maxBatchSize must be an integer >= 1, got 0/],
      [{ batching: { maxBatchSize: 'x' } }, /batching\.maxBatchSize \(now max_batch_size\) must be an integer >= 0/],
      [
        { batching: { minBatchSize: 9, maxBatchSize: 4 } },
        /batching\.minBatchSize \(now modelpipe\.min_batch_size\) \(9\) must not exceed/,
      ],
      [{ model_config: { max_batch_size: 'x' } }, /max_batch_size must be an integer/],
      [{ model_config: { maxBatch: 1 } }, /unknown field "maxBatch"/],
      [{ model_config: [] }, /model_config must be an object/],
    ] as const) {
      assert.throws(
        () => check(extra),
        (e: unknown) => (e as { code?: string }).code === 'MP_ERR_PIPELINE_DEF' && message.test((e as Error).message),
        JSON.stringify(extra),
      );
    }
  });
});
