import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { decodeToRGB, preprocessImages, preprocessImagesSettled } from '../../src/vision/preprocess.js';
import { BUILTIN_PRESETS, type Preset, validatePreset } from '../../src/vision/presets.js';
import { ModelpipeError } from '../../src/errors/index.js';
import { needShared, sharedPath } from '../helpers/shared.js';

const skip = needShared('images/mug227.png', 'images/hummingbird.jpg', 'images/dog.jpg');
const read = (name: string): Buffer => readFileSync(sharedPath(`images/${name}`));

/** The test's own reference: sharp's interleaved RGB at 224×224, computed independently of the module. */
async function referenceRGB(bytes: Uint8Array): Promise<Buffer> {
  return sharp(bytes).removeAlpha().resize(224, 224, { fit: 'fill' }).raw().toBuffer();
}

/** Expected value of output channel c for an RGB pixel, straight from the preset's definition. */
function expected(rgb: Buffer, pixel: number, c: number, order: 'RGB' | 'BGR', scale: number, mean: number[], std: number[]): number {
  const src = order === 'RGB' ? c : 2 - c;
  return (rgb[pixel * 3 + src]! * scale - mean[c]!) / std[c]!;
}

/** Compares every value of a [N,…] tensor against the reference, reading it by layout. */
function compareAll(
  data: Float32Array,
  refs: Buffer[],
  layout: 'NCHW' | 'NHWC',
  expect: (rgb: Buffer, px: number, c: number) => number,
  tol: number,
) {
  const hw = 224 * 224;
  let worst = 0;
  refs.forEach((rgb, n) => {
    for (let px = 0; px < hw; px++) {
      for (let c = 0; c < 3; c++) {
        const at = layout === 'NCHW' ? n * 3 * hw + c * hw + px : n * 3 * hw + px * 3 + c;
        worst = Math.max(worst, Math.abs(data[at]! - expect(rgb, px, c)));
      }
    }
  });
  assert.ok(worst <= tol, `largest difference ${worst}`);
}

describe('classy preprocessing', { skip }, () => {
  test('reference images have distinct R and B, so a channel swap cannot go unnoticed', async () => {
    const rgb = await referenceRGB(read('mug227.png'));
    let differ = 0;
    for (let i = 0; i < rgb.length; i += 3) if (Math.abs(rgb[i]! - rgb[i + 2]!) > 20) differ++;
    assert.ok(differ > 1000, `only ${differ} pixels with R≠B`);
  });

  test('squeezenet: [N,3,224,224] float32, BGR planes, raw 0–255', async () => {
    const imgs = [read('mug227.png'), read('hummingbird.jpg')];
    const t = await preprocessImages(imgs, 'squeezenet');
    assert.equal(t.dtype, 'float32');
    assert.deepEqual(t.shape, [2, 3, 224, 224]);
    const data = t.data as Float32Array;
    const refs = await Promise.all(imgs.map(referenceRGB));
    // Spot checks written out by hand: image 1, pixel (y=10,x=20), B plane first.
    const px = 10 * 224 + 20;
    const base1 = 3 * 224 * 224;
    assert.equal(data[base1 + px], refs[1]![px * 3 + 2]); // B
    assert.equal(data[base1 + 224 * 224 + px], refs[1]![px * 3 + 1]); // G
    assert.equal(data[base1 + 2 * 224 * 224 + px], refs[1]![px * 3]); // R
    compareAll(data, refs, 'NCHW', (rgb, p, c) => expected(rgb, p, c, 'BGR', 1, [0, 0, 0], [1, 1, 1]), 0);
  });

  test('vgg: [N,224,224,3] float32, BGR interleaved, minus B,G,R means', async () => {
    const imgs = [read('dog.jpg'), read('mug227.png')];
    const t = await preprocessImages(imgs, 'vgg');
    assert.deepEqual(t.shape, [2, 224, 224, 3]);
    const data = t.data as Float32Array;
    const refs = await Promise.all(imgs.map(referenceRGB));
    const px = 200 * 224 + 3; // image 0, pixel (y=200, x=3)
    assert.ok(Math.abs(data[px * 3]! - (refs[0]![px * 3 + 2]! - 103.939)) < 1e-4);
    assert.ok(Math.abs(data[px * 3 + 2]! - (refs[0]![px * 3]! - 123.68)) < 1e-4);
    compareAll(data, refs, 'NHWC', (rgb, p, c) => expected(rgb, p, c, 'BGR', 1, [103.939, 116.779, 123.68], [1, 1, 1]), 1e-4);
  });

  test('imagenet: [N,3,224,224] float32, RGB planes, /255 then mean/std', async () => {
    const imgs = [read('hummingbird.jpg')];
    const t = await preprocessImages(imgs, 'imagenet');
    assert.deepEqual(t.shape, [1, 3, 224, 224]);
    const data = t.data as Float32Array;
    const refs = await Promise.all(imgs.map(referenceRGB));
    const px = 111 * 224 + 112;
    assert.ok(Math.abs(data[px]! - (refs[0]![px * 3]! / 255 - 0.485) / 0.229) < 1e-5); // R plane first
    compareAll(data, refs, 'NCHW', (rgb, p, c) => expected(rgb, p, c, 'RGB', 1 / 255, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]), 1e-5);
  });

  test('an undecodable image fails the batch with MP_ERR_IMAGE_DECODE naming its index and sharp’s reason', async () => {
    const mug = read('mug227.png');
    await assert.rejects(preprocessImages([mug, mug, mug.subarray(0, 1000)], 'squeezenet'), (e) => {
      assert.ok(e instanceof ModelpipeError);
      assert.equal(e.code, 'MP_ERR_IMAGE_DECODE');
      // The reason is libvips' own text, whose wording varies between runs (libpng's
      // error or libvips' "Warning treated as error"), so only its origin is pinned down.
      assert.match(e.message, /^image 2: \S/);
      assert.doesNotMatch(e.message, /unrecognised format/);
      return true;
    });
    await assert.rejects(
      preprocessImages([mug, Buffer.from('definitely not an image')], 'squeezenet'),
      (e) =>
        e instanceof ModelpipeError && e.code === 'MP_ERR_IMAGE_DECODE' && /^image 1: unsupported or unrecognised format/.test(e.message),
    );
    // Several failures: the lowest index is reported, whatever finishes first.
    await assert.rejects(
      preprocessImages([mug, read('dog.jpg').subarray(0, 5000), Buffer.alloc(0)], 'squeezenet', { concurrency: 4 }),
      (e) => e instanceof ModelpipeError && /^image 1: /.test(e.message) && !/unrecognised format/.test(e.message),
    );
  });

  test('decodeToRGB alone fails with MP_ERR_IMAGE_DECODE and the bare reason, for junk and for a corrupt file', async () => {
    const p = BUILTIN_PRESETS.squeezenet as Preset;
    const isDecode = (bare: RegExp) => (e: unknown) =>
      e instanceof ModelpipeError && e.code === 'MP_ERR_IMAGE_DECODE' && e.status === 400 && bare.test(e.message);
    await assert.rejects(decodeToRGB(Buffer.from('junk'), p), isDecode(/^unsupported or unrecognised format/));
    // A PNG signature with a cut body gets past the sniffing: libvips' own failure carries the code too.
    await assert.rejects(decodeToRGB(read('mug227.png').subarray(0, 1000), p), isDecode(/^(?!image \d)\S/));
  });

  test('the settled variant batches the good images and reports the bad ones by index', async () => {
    const mug = read('mug227.png');
    const hb = read('hummingbird.jpg');
    const res = await preprocessImagesSettled([mug, Buffer.from('junk'), hb, mug.subarray(0, 500)], 'squeezenet');
    assert.deepEqual(res.rows, [0, 2]);
    assert.deepEqual(res.tensor?.shape, [2, 3, 224, 224]);
    assert.deepEqual(res.results[0], { ok: true, row: 0 });
    assert.deepEqual(res.results[2], { ok: true, row: 1 });
    const r1 = res.results[1]!;
    const r3 = res.results[3]!;
    assert.ok(!r1.ok && r1.error.code === 'MP_ERR_IMAGE_DECODE' && r1.error.message.startsWith('image 1: '));
    assert.ok(!r3.ok && r3.error.message.startsWith('image 3: '));
    // Row 1 is the hummingbird, exactly as the strict variant would give it.
    const alone = await preprocessImages([hb], 'squeezenet');
    assert.deepEqual((res.tensor!.data as Float32Array).subarray(3 * 224 * 224), alone.data);
    const none = await preprocessImagesSettled([Buffer.from('x')], 'squeezenet');
    assert.equal(none.tensor, undefined);
    assert.deepEqual(none.rows, []);
  });
});

/**
 * A 200×100 image of four 50-pixel vertical stripes: green, red, blue, white.
 * fill and contain keep all four; cover (centre crop of a wide image) keeps only red and blue.
 */
const STRIPES = [
  [0, 255, 0],
  [255, 0, 0],
  [0, 0, 255],
  [255, 255, 255],
];
async function stripes(format: 'png' | 'webp'): Promise<Buffer> {
  const raw = Buffer.alloc(200 * 100 * 3);
  for (let y = 0; y < 100; y++) {
    for (let x = 0; x < 200; x++) raw.set(STRIPES[Math.floor(x / 50)]!, (y * 200 + x) * 3);
  }
  const img = sharp(raw, { raw: { width: 200, height: 100, channels: 3 } });
  return format === 'png' ? img.png().toBuffer() : img.webp({ lossless: true }).toBuffer();
}
const [GREEN, RED, BLUE, WHITE] = STRIPES as [number[], number[], number[], number[]];
const BLACK = [0, 0, 0];

const small = (fields: Record<string, unknown>): Preset =>
  validatePreset('t', { width: 50, height: 50, layout: 'NHWC', dtype: 'uint8', ...fields });

/** RGB of pixel (y,x) in a [1,50,50,3] uint8 RGB tensor. Sampled ≥ 3 px from stripe edges (resampling blurs edges). */
const rgbAt = (d: Uint8Array, y: number, x: number): number[] => [...d.subarray((y * 50 + x) * 3, (y * 50 + x) * 3 + 3)];

describe('classy preprocessing: resize modes, formats, channels', () => {
  test('fill stretches, cover centre-crops, contain pads with black', async () => {
    const png = await stripes('png');
    // fill: 200×100 → 50×50, stripes 12.5 px wide.
    const fill = (await preprocessImages([png], small({ resize: 'fill' }))).data as Uint8Array;
    for (const y of [0, 25, 49]) {
      assert.deepEqual([rgbAt(fill, y, 3), rgbAt(fill, y, 18), rgbAt(fill, y, 31), rgbAt(fill, y, 46)], [GREEN, RED, BLUE, WHITE]);
    }
    // cover: 200×100 → 100×50, then the middle 50 columns: red and blue only (where fill has green and white).
    const cover = (await preprocessImages([png], small({ resize: 'cover' }))).data as Uint8Array;
    for (const y of [0, 25, 49]) {
      assert.deepEqual([rgbAt(cover, y, 5), rgbAt(cover, y, 20), rgbAt(cover, y, 30), rgbAt(cover, y, 44)], [RED, RED, BLUE, BLUE]);
    }
    // contain: 200×100 → 50×25, centred vertically, black bands above and below.
    const contain = (await preprocessImages([png], small({ resize: 'contain' }))).data as Uint8Array;
    assert.deepEqual([rgbAt(contain, 2, 3), rgbAt(contain, 2, 31), rgbAt(contain, 47, 46)], [BLACK, BLACK, BLACK]);
    assert.deepEqual(
      [rgbAt(contain, 25, 3), rgbAt(contain, 25, 18), rgbAt(contain, 25, 31), rgbAt(contain, 25, 46)],
      [GREEN, RED, BLUE, WHITE],
    );
  });

  test('WebP decodes; uint8 BGR NCHW puts blue in plane 0', async () => {
    const webp = await stripes('webp');
    const t = await preprocessImages([webp], small({ layout: 'NCHW', channelOrder: 'BGR' }));
    assert.equal(t.dtype, 'uint8');
    assert.deepEqual(t.shape, [1, 3, 50, 50]);
    const d = t.data as Uint8Array;
    const plane = 50 * 50;
    const blue = 10 * 50 + 31;
    assert.deepEqual([d[blue], d[plane + blue], d[2 * plane + blue]], [255, 0, 0]);
    const red = 10 * 50 + 18;
    assert.deepEqual([d[red], d[plane + red], d[2 * plane + red]], [0, 0, 255]);
  });

  test('GIF: only the first frame is used', async () => {
    // Two 4×2 frames: red, then blue.
    const raw = Buffer.alloc(4 * 4 * 3);
    for (let i = 0; i < 8; i++) raw[i * 3] = 255;
    for (let i = 8; i < 16; i++) raw[i * 3 + 2] = 255;
    const gif = await sharp(raw, { raw: { width: 4, height: 4, channels: 3, pageHeight: 2 } })
      .gif()
      .toBuffer();
    assert.equal((await sharp(gif, { pages: -1 }).metadata()).pages, 2);
    const d = (await preprocessImages([gif], validatePreset('g', { width: 4, height: 2, layout: 'NHWC', dtype: 'uint8' }))).data;
    assert.deepEqual([...(d as Uint8Array)], Array.from({ length: 8 }, () => [255, 0, 0]).flat());
  });

  test('grayscale becomes 3 equal channels; alpha is dropped, not composited', async () => {
    const grey = await sharp(Buffer.from([0, 50, 100, 200]), { raw: { width: 2, height: 2, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    assert.equal((await sharp(grey).metadata()).channels, 1);
    const g = (await preprocessImages([grey], validatePreset('g', { width: 2, height: 2, layout: 'NHWC', dtype: 'uint8' }))).data;
    assert.deepEqual([...(g as Uint8Array)], [0, 0, 0, 50, 50, 50, 100, 100, 100, 200, 200, 200]);
    const rgba = await sharp(Buffer.from([10, 20, 30, 0, 40, 50, 60, 128]), { raw: { width: 2, height: 1, channels: 4 } })
      .png()
      .toBuffer();
    const a = (await preprocessImages([rgba], validatePreset('a', { width: 2, height: 1, layout: 'NHWC', dtype: 'uint8' }))).data;
    assert.deepEqual([...(a as Uint8Array)], [10, 20, 30, 40, 50, 60]);
  });

  test('an empty batch gives an empty tensor of the right shape', async () => {
    const t = await preprocessImages([], BUILTIN_PRESETS.imagenet);
    assert.deepEqual(t.shape, [0, 3, 224, 224]);
    assert.equal(t.size, 0);
  });
});
