import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { CLI, runNode } from '../helpers/spawn.js';

/** `modelpipe classify-dir` and `modelpipe run` as a user runs them: spawned processes. */
const IMAGES: [string, number][] = [
  ['mug227.png', 504],
  ['hummingbird.jpg', 94],
  ['dog.jpg', 207],
  ['fish.png', 0],
];
const skip = needShared('models/squeezenet1.1.onnx', 'models/imagenet-labels.txt', ...IMAGES.map(([n]) => `images/${n}`));
const MODEL = sharedPath('models/squeezenet1.1.onnx');
const DOUBLE = fileURLToPath(new URL('../fixtures/runinference/slow-double.js', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'modelpipe-ri-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('modelpipe classify-dir', { skip }, () => {
  const imgs = join(dir, 'imgs');
  before(() => {
    mkdirSync(imgs);
    for (const [n] of IMAGES) copyFileSync(sharedPath(`images/${n}`), join(imgs, n));
  });

  test('classifies every image into results.db (SQLite) by default, with a summary', async () => {
    const r = await runNode([CLI, 'classify-dir', imgs, '--model', MODEL, '--batch-size', '2'], {}, dir);
    assert.equal(r.code, 0, r.stderr);
    const db = new Database(join(dir, 'results.db'), { readonly: true });
    const rows = db.prepare('SELECT path, class, label, model_id FROM classifications ORDER BY path').all() as {
      path: string;
      class: number;
      label: string;
      model_id: string;
    }[];
    db.close();
    assert.deepEqual(
      rows.map((x) => [x.path, x.class]),
      [...IMAGES].sort(([a], [b]) => (a < b ? -1 : 1)),
    );
    assert.match(rows.find((x) => x.path === 'mug227.png')?.label ?? '', /coffee mug/);
    assert.match(rows[0]?.model_id ?? '', /^squeezenet1\.1\.onnx@[0-9a-f]{12}$/);
    assert.match(r.stdout, /^classified 4 images, 0 failed, in [\d.]+ s/);
    assert.match(r.stdout, /2 batches \(mean size 2\.0\) → results\.db/);
    // Not a terminal: progress is whole log lines, never a redrawn bar.
    assert.doesNotMatch(r.stderr, /\r/);
    assert.match(r.stderr, /classify .* 4\/4 .* done\n/);
  });

  test('JSONL output; an undecodable image is reported, the others still written, exit status 1', async () => {
    writeFileSync(join(imgs, 'broken.png'), 'not a png');
    const out = join(dir, 'out.jsonl');
    const r = await runNode([
      CLI,
      'classify-dir',
      imgs,
      '--model',
      MODEL,
      '--labels',
      sharedPath('models/imagenet-labels.txt'),
      '--out',
      out,
      '--workers',
      '2',
    ]);
    rmSync(join(imgs, 'broken.png'));
    assert.equal(r.code, 1, r.stderr);
    const rows = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string; class: number });
    assert.deepEqual(Object.fromEntries(rows.map((x) => [x.path, x.class])), Object.fromEntries(IMAGES));
    assert.match(r.stdout, /classified 4 images, 1 failed/);
    assert.match(r.stdout, /failed broken\.png: MP_ERR_IMAGE_DECODE: unsupported or unrecognised format/);
  });

  test('usage errors name the problem', async () => {
    const noModel = await runNode([CLI, 'classify-dir', imgs]);
    assert.equal(noModel.code, 1);
    assert.match(noModel.stderr, /MP_ERR_BAD_CONFIG: classify-dir needs one folder and --model/);
    const preset = await runNode([CLI, 'classify-dir', imgs, '--model', MODEL, '--preset', 'resnet']);
    assert.equal(preset.code, 1);
    assert.match(preset.stderr, /unknown preset "resnet" \(known: squeezenet, vgg, imagenet\)/);
    const help = await runNode([CLI, '--help']);
    assert.match(help.stdout, /\n {2}run +PIPELINE\.json/);
    assert.match(help.stdout, /\n {2}classify-dir +DIR --model/);
  });
});

describe('modelpipe run', () => {
  test('runs a JSON pipeline file (JSONL → module handler → SQLite) and prints the summary', async () => {
    writeFileSync(join(dir, 'in.jsonl'), '{"id":"a","x":1}\n{"id":"b","x":2}\n{"id":"c","x":"oops"}\n');
    const db = join(dir, 'run.db');
    writeFileSync(
      join(dir, 'p.json'),
      JSON.stringify({
        source: { type: 'jsonl', path: join(dir, 'in.jsonl') },
        key: 'id',
        handler: { type: 'module', path: DOUBLE },
        // One record per batch: the bad record fails only its own batch.
        batching: { maxBatchSize: 1 },
        sink: { type: 'sqlite', path: db, table: 'out' },
        deadLetter: { type: 'jsonl', path: join(dir, 'dead.jsonl') },
        progress: false,
      }),
    );
    const r = await runNode([CLI, 'run', join(dir, 'p.json')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /RunInference summary: 2 items in [\d.]+ s .*, 1 dead letters/);
    const d = new Database(db, { readonly: true });
    assert.deepEqual(d.prepare('SELECT key, inference FROM out ORDER BY key').all(), [
      { key: 'a', inference: 2 },
      { key: 'b', inference: 4 },
    ]);
    d.close();
    assert.match(readFileSync(join(dir, 'dead.jsonl'), 'utf8'), /"key":"c".*no numeric x/);
  });

  test('.ts pipelines are refused with the reason; --workers needs a Redis source', async () => {
    writeFileSync(join(dir, 'p.ts'), 'export default {};\n');
    const ts = await runNode([CLI, 'run', join(dir, 'p.ts')]);
    assert.equal(ts.code, 1);
    assert.match(ts.stderr, /MP_ERR_PIPELINE_DEF: .*Node 20 cannot import TypeScript/);
    const w = await runNode([CLI, 'run', join(dir, 'p.json'), '--workers', '2']);
    assert.equal(w.code, 1);
    assert.match(w.stderr, /--workers needs a pipeline whose source is a Redis stream \(got "jsonl"\)/);
  });

  describe('with --workers on a Redis stream', () => {
    let redis: RedisServer | undefined;
    before(async () => {
      redis = await startRedis(dir);
    });
    after(() => redis?.stop());

    test('N worker processes share the stream; every entry is written once', { timeout: 60_000 }, async () => {
      const r = redis as RedisServer;
      const N = 60;
      const pipe = r.client.pipeline();
      for (let i = 0; i < N; i++) pipe.xadd('jobs', '*', 'data', JSON.stringify({ x: i }));
      await pipe.exec();
      const db = join(dir, 'workers.db');
      writeFileSync(
        join(dir, 'w.json'),
        JSON.stringify({
          source: { type: 'redis', url: r.url, stream: 'jobs', group: 'cli', blockMs: 100, exitWhenDrained: true },
          handler: { type: 'module', path: DOUBLE },
          batching: { maxBatchSize: 4, maxWaitMs: 10 },
          sink: { type: 'sqlite', path: db, table: 'out' },
          progress: false,
          summary: false,
        }),
      );
      const out = await runNode([CLI, 'run', join(dir, 'w.json'), '--workers', '2']);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stderr, new RegExp(`2 workers, 0 restarts: ${N} entries in = ${N} written \\+ 0 dead letters;`));
      const d = new Database(db, { readonly: true });
      const rows = d.prepare('SELECT inference FROM out').all() as { inference: number }[];
      d.close();
      assert.deepEqual(
        rows.map((x) => x.inference).sort((a, b) => a - b),
        Array.from({ length: N }, (_, i) => 2 * i),
      );
    });
  });
});
