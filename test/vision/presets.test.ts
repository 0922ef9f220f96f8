import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { preprocessImages } from '../../src/vision/preprocess.js';
import { BUILTIN_PRESETS, loadPresetConfig, parsePresetConfig, presetShape, resolvePreset } from '../../src/vision/presets.js';
import { ModelpipeError } from '../../src/errors/index.js';

const badConfig = (pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof ModelpipeError, String(e));
  assert.equal(e.code, 'MP_ERR_BAD_CONFIG');
  assert.match(e.message, pattern);
  return true;
};

describe('classy presets', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'classy-presets-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('built-ins are what their models expect', () => {
    assert.deepEqual(
      { ...BUILTIN_PRESETS.squeezenet },
      {
        name: 'squeezenet',
        width: 224,
        height: 224,
        resize: 'fill',
        layout: 'NCHW',
        channelOrder: 'BGR',
        scale: 1,
        mean: [0, 0, 0],
        std: [1, 1, 1],
        dtype: 'float32',
      },
    );
    assert.deepEqual(
      [BUILTIN_PRESETS.vgg.layout, BUILTIN_PRESETS.vgg.channelOrder, BUILTIN_PRESETS.vgg.mean],
      ['NHWC', 'BGR', [103.939, 116.779, 123.68]],
    );
    assert.deepEqual([BUILTIN_PRESETS.imagenet.channelOrder, BUILTIN_PRESETS.imagenet.std], ['RGB', [0.229, 0.224, 0.225]]);
    assert.deepEqual(presetShape(BUILTIN_PRESETS.vgg, 4), [4, 224, 224, 3]);
    assert.deepEqual(presetShape(BUILTIN_PRESETS.imagenet, 4), [4, 3, 224, 224]);
  });

  test('a config file defines presets, with defaults for omitted fields, usable by name', async () => {
    const path = join(dir, 'presets.json');
    await writeFile(
      path,
      JSON.stringify({
        presets: {
          'tiny-cover': {
            width: 8,
            height: 4,
            resize: 'cover',
            layout: 'NHWC',
            channelOrder: 'BGR',
            scale: 2,
            mean: [1, 2, 3],
            std: [2, 4, 8],
          },
          minimal: { width: 3, height: 3 },
        },
      }),
    );
    const presets = await loadPresetConfig(path);
    assert.deepEqual([...presets.keys()], ['tiny-cover', 'minimal']);
    const min = presets.get('minimal')!;
    assert.deepEqual(
      [min.resize, min.layout, min.channelOrder, min.scale, min.mean, min.std, min.dtype],
      ['fill', 'NCHW', 'RGB', 1, [0, 0, 0], [1, 1, 1], 'float32'],
    );
    // Used through preprocessImages by name: a uniform (R,G,B) = (10,20,30) image.
    const img = await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 10, g: 20, b: 30 } } })
      .png()
      .toBuffer();
    const t = await preprocessImages([img], 'tiny-cover', { presets });
    assert.deepEqual(t.shape, [1, 4, 8, 3]);
    // BGR: channel 0 is B=30 → (30*2-1)/2; channel 1 G=20 → (40-2)/4; channel 2 R=10 → (20-3)/8.
    assert.deepEqual([...(t.data as Float32Array).subarray(0, 3)], [29.5, 9.5, 2.125]);
    assert.equal(resolvePreset('squeezenet', presets), BUILTIN_PRESETS.squeezenet);
    assert.throws(
      () => resolvePreset('nope', presets),
      badConfig(/unknown preset "nope" \(known: squeezenet, vgg, imagenet, tiny-cover, minimal\)/),
    );
  });

  test('invalid configs are refused with a message naming the preset and field', async () => {
    const cases: [unknown, RegExp][] = [
      [{ presets: { a: { height: 4 } } }, /"a": width is required/],
      [{ presets: { a: { width: 0, height: 4 } } }, /"a": width must be an integer from 1 to 8192, got 0/],
      [{ presets: { a: { width: 2.5, height: 4 } } }, /width must be an integer/],
      [{ presets: { a: { width: 4, height: 99999 } } }, /height must be an integer from 1 to 8192/],
      [{ presets: { a: { width: 4, height: 4, resize: 'crop' } } }, /resize must be one of fill, cover, contain, got "crop"/],
      [{ presets: { a: { width: 4, height: 4, layout: 'CHW' } } }, /layout must be one of NCHW, NHWC/],
      [{ presets: { a: { width: 4, height: 4, channelOrder: 'bgr' } } }, /channelOrder must be one of RGB, BGR/],
      [{ presets: { a: { width: 4, height: 4, mean: [1, 2] } } }, /mean must be an array of 3 numbers/],
      [{ presets: { a: { width: 4, height: 4, mean: [1, 2, '3'] } } }, /mean\[2\] must be a finite number/],
      [{ presets: { a: { width: 4, height: 4, std: [1, 0, 1] } } }, /std must not contain 0/],
      [{ presets: { a: { width: 4, height: 4, scale: 'x' } } }, /scale must be a finite number/],
      [{ presets: { a: { width: 4, height: 4, dtype: 'float16' } } }, /dtype must be one of float32, uint8/],
      [{ presets: { a: { width: 4, height: 4, dtype: 'uint8', scale: 0.5 } } }, /dtype uint8 carries raw 0–255 samples/],
      [{ presets: { a: { width: 4, height: 4, chanelOrder: 'BGR' } } }, /unknown field "chanelOrder"/],
      [{ presets: { squeezenet: { width: 4, height: 4 } } }, /would shadow the built-in preset/],
      [{ presets: { 'a b': { width: 4, height: 4 } } }, /preset name "a b" must be/],
      [{ presets: { a: [] } }, /"a": must be a JSON object/],
      [{ presets: [] }, /"presets" must be an object/],
      [{ preset: {} }, /unknown top-level field "preset"/],
      [[], /must be a JSON object with a "presets" object/],
    ];
    for (const [config, pattern] of cases) {
      assert.throws(() => parsePresetConfig(JSON.stringify(config), 'cfg.json'), badConfig(pattern), JSON.stringify(config));
    }
    assert.throws(() => parsePresetConfig('{ presets: ', 'cfg.json'), badConfig(/^cfg\.json: invalid JSON/));
    await assert.rejects(loadPresetConfig(join(dir, 'absent.json')), badConfig(/cannot read preset config .*absent\.json/));
  });
});
