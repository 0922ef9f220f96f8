import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { Engine } from '../../src/core/engine.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { type PerfOptions, runPerf } from '../../src/perf/index.js';
import { HttpServer } from '../../src/server/http-server.js';
import { OipFrontend } from '../../src/server/oip-frontend.js';
import type { Tensor } from '../../src/tensor/index.js';
import { validatePreset } from '../../src/vision/presets.js';
import { CLI, runNode } from '../helpers/spawn.js';

/**
 * perf's real data: a folder of images through a preset and a JSONL file, against
 * function models that record what each request carried, so the test sees that the
 * requests cycle through the data with the right rows. Windows are short and the
 * stability tolerance wide: each run is three windows.
 */

const tiny = validatePreset('tiny', { width: 4, height: 4 });
const COLOURS: [string, [number, number, number]][] = [
  ['a-red.png', [255, 0, 0]],
  ['b-green.png', [0, 255, 0]],
  ['c-blue.png', [0, 0, 255]],
];

/** Per request, the strongest channel of each row (0 red, 1 green, 2 blue). */
const imageSeen = new Set<string>();
const jsonSeen = new Set<string>();

function dominant(t: Tensor): string {
  const per = 3 * 16;
  const rows: number[] = [];
  const d = t.data as Float32Array;
  for (let r = 0; r < (t.shape[0] as number); r++) {
    const sums = [0, 1, 2].map((c) => d[r * per + c * 16] as number);
    rows.push(sums.indexOf(Math.max(...sums)));
  }
  return rows.join(',');
}

function base(url: string, model: string, extra: Partial<PerfOptions>): PerfOptions {
  return {
    url,
    protocol: 'rest',
    model,
    concurrency: [1],
    rates: [],
    arrivals: 'constant',
    windowMs: 150,
    stability: 1e6,
    stepCapMs: 5000,
    maxInFlight: 8,
    timeoutMs: 10_000,
    ...extra,
  };
}

describe('modelpipe perf with real data', () => {
  const engine = new Engine();
  let http: HttpServer;
  let dir = '';
  let images = '';
  before(async () => {
    engine.add(
      'img',
      new FunctionModel(
        (i) => {
          imageSeen.add(dominant(i.x as Tensor));
          return { y: i.x as Tensor };
        },
        {
          name: 'img',
          inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 3, 4, 4] }],
          outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 3, 4, 4] }],
        },
      ),
    );
    engine.add(
      'vec',
      new FunctionModel(
        (i) => {
          const t = i.x as Tensor;
          jsonSeen.add(`${t.shape[0]}:${(t.data as Float32Array)[0]}`);
          return { y: t };
        },
        {
          name: 'vec',
          inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2] }],
          outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2] }],
        },
      ),
    );
    http = new HttpServer({ engine, frontends: [new OipFrontend()] });
    await http.listen(0, '127.0.0.1');
    dir = mkdtempSync(join(tmpdir(), 'mp-perf-data-'));
    images = join(dir, 'images');
    mkdirSync(join(images, 'sub'), { recursive: true });
    for (const [name, [r, g, b]] of COLOURS) {
      const png = await sharp({ create: { width: 6, height: 5, channels: 3, background: { r, g, b } } })
        .png()
        .toBuffer();
      // One in a subfolder: the folder is read recursively.
      writeFileSync(join(images, name === 'c-blue.png' ? join('sub', name) : name), png);
    }
    writeFileSync(join(images, 'notes.txt'), 'not an image: skipped by its extension');
  });
  after(async () => {
    await http?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('--images: batch-size rows per request, cycling through every image', async () => {
    imageSeen.clear();
    const r = await runPerf(base(http.url, 'img', { images: { dir: images, preset: tiny }, batchSize: 2 }));
    assert.equal(r.rowsPerRequest, 2);
    assert.deepEqual(r.steps[0]?.errors, {});
    // Sorted paths: a-red, b-green, sub/c-blue; two requests, the second topped up from the first image.
    assert.deepEqual([...imageSeen].sort(), ['0,1', '2,0']);
  });

  test('--images: a bad file is named; past the caps it is MP_ERR_BAD_CONFIG', async () => {
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\nnot really a png'));
    await assert.rejects(runPerf(base(http.url, 'img', { images: { dir: bad, preset: tiny } })), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'MP_ERR_BAD_CONFIG');
      assert.match(e.message, /broken\.png/);
      return true;
    });
    const few = { images: { dir: images, preset: tiny } };
    await assert.rejects(runPerf(base(http.url, 'img', { ...few, realDataLimits: { maxItems: 2, maxBytes: 1e9 } })), {
      code: 'MP_ERR_BAD_CONFIG',
      message: /3 images, more than 2/,
    });
    await assert.rejects(runPerf(base(http.url, 'img', { ...few, realDataLimits: { maxItems: 100, maxBytes: 500 } })), {
      code: 'MP_ERR_BAD_CONFIG',
      message: /more than 500/,
    });
  });

  test('--jsonl: named inputs and bare arrays, cycled; rows per request averaged', async () => {
    jsonSeen.clear();
    const file = join(dir, 'req.jsonl');
    writeFileSync(file, '{"inputs": {"x": [[1, 1]]}}\n\n[[2, 2], [2, 2]]\n[[3, 3], [3, 3], [3, 3]]\n');
    const r = await runPerf(base(http.url, 'vec', { jsonl: file }));
    assert.equal(r.rowsPerRequest, 2);
    assert.deepEqual(r.steps[0]?.errors, {});
    assert.deepEqual([...jsonSeen].sort(), ['1:1', '2:2', '3:3']);
  });

  test('--jsonl: a bad line is named by number; past the caps it is MP_ERR_BAD_CONFIG', async () => {
    const cases: [string, RegExp][] = [
      ['[[1, 2]]\n{oops\n', /req-bad\.jsonl:2: invalid JSON/],
      ['{"inputs": {"z": [[1, 2]]}}\n', /:1: the model has no input "z"/],
      ['{"inputs": {}}\n', /:1: input "x" is missing/],
      ['[[1, 2]]\n[[1, 2], [3]]\n', /:2: input "x": ragged array/],
      ['{"x": 1}\n', /:1: expected \{"inputs"/],
      ['\n\n', /no requests/],
    ];
    const file = join(dir, 'req-bad.jsonl');
    for (const [text, message] of cases) {
      writeFileSync(file, text);
      await assert.rejects(runPerf(base(http.url, 'vec', { jsonl: file })), { code: 'MP_ERR_BAD_CONFIG', message }, text);
    }
    writeFileSync(file, '[[1, 2]]\n[[1, 2]]\n[[1, 2]]\n');
    await assert.rejects(runPerf(base(http.url, 'vec', { jsonl: file, realDataLimits: { maxItems: 2, maxBytes: 1e9 } })), {
      code: 'MP_ERR_BAD_CONFIG',
      message: /more than 2 requests/,
    });
    await assert.rejects(runPerf(base(http.url, 'vec', { jsonl: file, realDataLimits: { maxItems: 10, maxBytes: 10 } })), {
      code: 'MP_ERR_BAD_CONFIG',
      message: /more than 10/,
    });
  });

  test('CLI: --images with --preset, --jsonl, and the two together refused', async () => {
    const presets = join(dir, 'presets.json');
    writeFileSync(presets, JSON.stringify({ presets: { tiny: { width: 4, height: 4 } } }));
    const common = [CLI, 'perf', http.url, '--window-ms', '100', '--stability', '1000000'];
    const img = await runNode([
      ...common,
      '--model',
      'img',
      '--images',
      images,
      '--presets',
      presets,
      '--preset',
      'tiny',
      '--batch-size',
      '3',
    ]);
    assert.equal(img.code, 0, img.stderr);
    assert.match(img.stdout, /p99 ms/);
    const file = join(dir, 'cli.jsonl');
    writeFileSync(file, '[[5, 5]]\n');
    const js = await runNode([...common, '--model', 'vec', '--jsonl', file]);
    assert.equal(js.code, 0, js.stderr);
    const both = await runNode([...common, '--model', 'vec', '--jsonl', file, '--images', images]);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /MP_ERR_BAD_CONFIG: --images and --jsonl are alternatives/);
  });
});
