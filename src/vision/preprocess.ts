import { availableParallelism } from 'node:os';
import sharp from 'sharp';
import { ModelpipeError } from '../errors/index.js';
import { Tensor } from '../tensor/index.js';
import { intOption, mapLimit } from './limit.js';
import { type Preset, presetShape, resolvePreset } from './presets.js';

/**
 * Image bytes → one batched model input tensor. Decoding and resizing are sharp's
 * (libvips, off the main thread); the only JS work is one pass that reorders the
 * interleaved RGB bytes into the preset's layout and channel order and normalises.
 */

export interface PreprocessOptions {
  /** User-defined presets (from loadPresetConfig) looked up when `preset` is a name. */
  readonly presets?: ReadonlyMap<string, Preset>;
  /** Images decoded at once (default: the machine's parallelism). Bounds peak memory. */
  readonly concurrency?: number;
  /** Apply EXIF orientation before resizing (default true: phone photos are stored rotated). */
  readonly autoOrient?: boolean;
}

export type ImageResult = { readonly ok: true; readonly row: number } | { readonly ok: false; readonly error: ModelpipeError };

export interface SettledBatch {
  /** The images that decoded, batched in input order; undefined when none did. */
  readonly tensor: Tensor | undefined;
  /** rows[r] = the input index of tensor row r. */
  readonly rows: readonly number[];
  /** Per input index: its row in `tensor`, or why it failed. */
  readonly results: readonly ImageResult[];
}

/**
 * The formats we hand to sharp. libvips can load many more (SVG, TIFF, HEIF, PDF…);
 * for bytes fetched from arbitrary URLs a small decoder surface is the safer default.
 */
function sniffFormat(b: Uint8Array): string | undefined {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'png';
  if (b.length >= 6 && b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return 'gif';
  const ascii = (from: number, to: number): string => String.fromCharCode(...b.subarray(from, to));
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  return undefined;
}

/**
 * Decodes to interleaved 8-bit RGB of exactly preset.width × preset.height. Fails with
 * MP_ERR_IMAGE_DECODE carrying the bare reason (the batch functions prefix the image's index).
 */
export async function decodeToRGB(bytes: Uint8Array, preset: Preset, autoOrient = true): Promise<Uint8Array> {
  if (sniffFormat(bytes) === undefined) {
    throw new ModelpipeError('MP_ERR_IMAGE_DECODE', 'unsupported or unrecognised format (JPEG, PNG, WebP and GIF are accepted)');
  }
  const { data, info } = await sharp(bytes, { autoOrient, pages: 1 }) // pages: 1 = first frame of an animation
    .removeAlpha()
    .toColourspace('srgb') // grey (and CMYK) become 3-channel sRGB
    .resize(preset.width, preset.height, { fit: preset.resize, position: 'centre', background: { r: 0, g: 0, b: 0 } })
    .raw({ depth: 'uchar' }) // 16-bit PNGs come down to 8 bits
    .toBuffer({ resolveWithObject: true })
    .catch((err: unknown) => {
      // libvips' own message (e.g. "VipsJpeg: premature end of JPEG image") is the reason.
      throw new ModelpipeError('MP_ERR_IMAGE_DECODE', err instanceof Error ? err.message : String(err), { cause: err });
    });
  if (info.channels !== 3 || info.width !== preset.width || info.height !== preset.height) {
    const got = `${info.width}×${info.height}×${info.channels}`;
    throw new ModelpipeError('MP_ERR_IMAGE_DECODE', `decoder produced ${got}, expected ${preset.width}×${preset.height}×3`);
  }
  return data;
}

/**
 * One 256-entry table per output channel: the channel's scale/offset evaluated for
 * every possible byte, once per batch. The hot loop is then a load per sample, and
 * each value is exactly (pixel*scale - mean)/std rounded once to float32.
 */
function tables(p: Preset): [Float32Array, Float32Array, Float32Array] {
  const t = (c: 0 | 1 | 2): Float32Array => {
    const out = new Float32Array(256);
    for (let v = 0; v < 256; v++) out[v] = (v * p.scale - p.mean[c]) / p.std[c];
    return out;
  };
  return [t(0), t(1), t(2)];
}

/** Writes one image (interleaved RGB) into `out` at element offset `base`, in one pass over the pixels. */
function writeImage(
  rgb: Uint8Array,
  out: Float32Array | Uint8Array,
  base: number,
  p: Preset,
  lut: readonly Float32Array[] | undefined,
): void {
  const n = p.width * p.height;
  // Source byte offset of each output channel within a pixel.
  const [s0, s1, s2] = p.channelOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  const planar = p.layout === 'NCHW';
  // Destination: planar writes channel c at base + c*n + i; interleaved at base + 3i + c.
  const d1 = planar ? n : 1;
  const d2 = planar ? 2 * n : 2;
  const step = planar ? 1 : 3;
  if (lut !== undefined) {
    const [t0, t1, t2] = lut as [Float32Array, Float32Array, Float32Array];
    for (let i = 0, j = 0, o = base; i < n; i++, j += 3, o += step) {
      out[o] = t0[rgb[j + s0]!]!;
      out[o + d1] = t1[rgb[j + s1]!]!;
      out[o + d2] = t2[rgb[j + s2]!]!;
    }
  } else {
    for (let i = 0, j = 0, o = base; i < n; i++, j += 3, o += step) {
      out[o] = rgb[j + s0]!;
      out[o + d1] = rgb[j + s1]!;
      out[o + d2] = rgb[j + s2]!;
    }
  }
}

function allocate(p: Preset, n: number): Float32Array | Uint8Array {
  const size = n * 3 * p.width * p.height;
  return p.dtype === 'uint8' ? new Uint8Array(size) : new Float32Array(size);
}

function decodeError(index: number, err: unknown): ModelpipeError {
  const reason = err instanceof Error ? err.message : String(err);
  return new ModelpipeError('MP_ERR_IMAGE_DECODE', `image ${index}: ${reason}`, { cause: err });
}

function prepare(preset: string | Preset, opts: PreprocessOptions) {
  const p = resolvePreset(preset, opts.presets);
  return {
    p,
    concurrency: intOption('concurrency', opts.concurrency, availableParallelism()),
    autoOrient: opts.autoOrient !== false,
    lut: p.dtype === 'float32' ? tables(p) : undefined,
  };
}

/**
 * Preprocesses every image into one tensor of shape [N,3,H,W] (NCHW) or [N,H,W,3]
 * (NHWC). The first undecodable image (lowest index) rejects with
 * MP_ERR_IMAGE_DECODE "image <i>: <reason>"; no new decodes start after a failure.
 */
export async function preprocessImages(
  images: readonly Uint8Array[],
  preset: string | Preset,
  opts: PreprocessOptions = {},
): Promise<Tensor> {
  const { p, concurrency, autoOrient, lut } = prepare(preset, opts);
  const out = allocate(p, images.length);
  const per = 3 * p.width * p.height;
  const errors: ModelpipeError[] = [];
  await mapLimit(images, concurrency, async (bytes, i) => {
    if (errors.length > 0) return;
    try {
      writeImage(await decodeToRGB(bytes, p, autoOrient), out, i * per, p, lut);
    } catch (err) {
      errors[i] = decodeError(i, err);
    }
  });
  // Images start in index order, so every index below a failing one has settled: the
  // lowest recorded failure is the lowest failing index, whatever order they finished in.
  const first = errors.find((e) => e !== undefined);
  if (first !== undefined) throw first;
  return new Tensor(p.dtype, presetShape(p, images.length), out);
}

/**
 * Keep-going variant: decodes every image, batches those that succeeded (in input
 * order) and reports each failure by index, so one bad image does not sink a batch.
 */
export async function preprocessImagesSettled(
  images: readonly Uint8Array[],
  preset: string | Preset,
  opts: PreprocessOptions = {},
): Promise<SettledBatch> {
  const { p, concurrency, autoOrient, lut } = prepare(preset, opts);
  const decoded = await mapLimit(images, concurrency, async (bytes, i) => {
    try {
      return await decodeToRGB(bytes, p, autoOrient);
    } catch (err) {
      return decodeError(i, err);
    }
  });
  const rows: number[] = [];
  const results: ImageResult[] = decoded.map((d, i) => {
    if (d instanceof ModelpipeError) return { ok: false, error: d };
    rows.push(i);
    return { ok: true, row: rows.length - 1 };
  });
  if (rows.length === 0) return { tensor: undefined, rows, results };
  const out = allocate(p, rows.length);
  const per = 3 * p.width * p.height;
  rows.forEach((input, r) => {
    writeImage(decoded[input] as Uint8Array, out, r * per, p, lut);
  });
  return { tensor: new Tensor(p.dtype, presetShape(p, rows.length), out), rows, results };
}
