/**
 * RunInference benchmark: classifyDir over ≥ 2000 images versus a hand-written loop
 * (decode → preprocess → onnxruntime-node, same batch size, same preprocessing code).
 *
 *   node dist/bench/runinference.js [--images 2000] [--batch 8] [--shared DIR]
 *
 * Images are generated into a temp dir from shared/images: copies resized to varied sizes
 * (JPEG and PNG). Each variant runs in its own child process so its peak RSS is its own.
 * Prints a table and a final JSON line; target: pipeline ≥ 90 % of the hand loop's rate.
 */
import { fork } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { classifyDir } from '../src/apps/classify-dir/classify-dir.js';
import { topK } from '../src/vision/labels.js';
import { preprocessImages } from '../src/vision/preprocess.js';
import { Tensor, split } from '../src/tensor/index.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

interface VariantResult {
  variant: string;
  images: number;
  seconds: number;
  imagesPerSec: number;
  peakRssMiB: number;
  classes: Record<string, number>;
}

async function generate(dir: string, n: number, shared: string): Promise<void> {
  const srcs = await Promise.all(['mug227.png', 'dog.jpg', 'fish.png', 'hummingbird.jpg'].map((f) => readFile(join(shared, 'images', f))));
  await mkdir(dir, { recursive: true });
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const src = srcs[i % srcs.length] as Buffer;
    const w = 96 + ((i * 37) % 500); // 96..595 px wide, varied aspect ratios
    const h = 96 + ((i * 53) % 420);
    const png = i % 5 === 0;
    const img = sharp(src).resize(w, h, { fit: 'fill' });
    jobs.push(
      (png ? img.png({ compressionLevel: 1 }) : img.jpeg({ quality: 85 }))
        .toBuffer()
        .then((b) => writeFile(join(dir, `img${String(i).padStart(5, '0')}.${png ? 'png' : 'jpg'}`), b)),
    );
    if (jobs.length >= 16) await Promise.all(jobs.splice(0));
  }
  await Promise.all(jobs);
}

/** The hand-written baseline: one process, one session, sequential batches. */
async function handLoop(dir: string, model: string, batch: number): Promise<Record<string, number>> {
  const session = await ort.InferenceSession.create(model);
  const names = (await readdir(dir)).sort();
  const classes: Record<string, number> = {};
  for (let i = 0; i < names.length; i += batch) {
    const chunk = names.slice(i, i + batch);
    // The same Classy preprocessor classifyDir uses, here batched in one call.
    const x = await preprocessImages(await Promise.all(chunk.map((n) => readFile(join(dir, n)))), 'squeezenet');
    const out = await session.run({ data_0: new ort.Tensor('float32', x.data as Float32Array, [...x.shape]) });
    const y = out.softmaxout_1 as ort.Tensor;
    const probs = new Tensor('float32', [...y.dims], y.data as Float32Array);
    split(
      probs,
      chunk.map(() => 1),
    ).forEach((p, j) => {
      classes[chunk[j] as string] = (topK(p.data as Float32Array, 1)[0] as { index: number }).index;
    });
  }
  return classes;
}

async function runVariant(variant: string, dir: string, model: string, batch: number): Promise<VariantResult> {
  const t0 = performance.now();
  let classes: Record<string, number>;
  if (variant === 'hand-loop') classes = await handLoop(dir, model, batch);
  else {
    const out = join(dir, '..', 'out.jsonl');
    await classifyDir(dir, { model, batchSize: batch, out, progress: false, summary: false });
    classes = {};
    for (const l of (await readFile(out, 'utf8')).trim().split('\n')) {
      const r = JSON.parse(l) as { path: string; class: number };
      classes[r.path] = r.class;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const images = Object.keys(classes).length;
  return {
    variant,
    images,
    seconds,
    imagesPerSec: images / seconds,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    classes,
  };
}

function inChild(variant: string, dir: string, model: string, batch: number): Promise<VariantResult> {
  return new Promise((resolvePromise, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--child', variant, '--dir', dir, '--model', model, '--batch', String(batch)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.once('message', (m) => resolvePromise(m as VariantResult));
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`${variant} exited with ${code}`));
    });
  });
}

export async function main(): Promise<void> {
  if (process.argv.includes('--child')) {
    const r = await runVariant(arg('child', ''), arg('dir', ''), arg('model', ''), Number(arg('batch', '8')));
    process.send?.(r);
    return;
  }
  const shared = resolve(arg('shared', process.env.MODELPIPE_SHARED ?? join(repo, '..', 'shared')));
  const n = Number(arg('images', '2000'));
  const batch = Number(arg('batch', '8'));
  const model = join(shared, 'models', 'squeezenet1.1.onnx');
  const work = await mkdtemp(join(tmpdir(), 'runinf-bench-'));
  const dir = join(work, 'images');
  try {
    const g0 = performance.now();
    await generate(dir, n, shared);
    process.stderr.write(`generated ${n} images in ${((performance.now() - g0) / 1000).toFixed(1)} s\n`);
    const hand = await inChild('hand-loop', dir, model, batch);
    const pipe = await inChild('classifyDir', dir, model, batch);
    const ratio = pipe.imagesPerSec / hand.imagesPerSec;
    const disagree = Object.keys(hand.classes).filter((k) => hand.classes[k] !== pipe.classes[k]).length;
    const rows = [hand, pipe].map((r) => [
      r.variant,
      String(r.images),
      r.seconds.toFixed(2),
      r.imagesPerSec.toFixed(1),
      r === pipe ? ratio.toFixed(3) : '1.000',
      r.peakRssMiB.toFixed(0),
    ]);
    const head = ['variant', 'images', 'seconds', 'images/s', 'ratio', 'peak RSS MiB'];
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
    const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(w[i] as number)).join(' | ')} |`;
    console.log(`\nRunInference classifyDir vs hand-written loop (squeezenet1.1, batch ${batch}, ${n} images)`);
    console.log(line(head));
    console.log(`|${w.map((x) => '-'.repeat(x + 2)).join('|')}|`);
    for (const r of rows) console.log(line(r));
    console.log(
      JSON.stringify({
        bench: 'runinference',
        images: n,
        batch,
        handLoopImagesPerSec: Number(hand.imagesPerSec.toFixed(1)),
        pipelineImagesPerSec: Number(pipe.imagesPerSec.toFixed(1)),
        ratio: Number(ratio.toFixed(3)),
        handLoopPeakRssMiB: Math.round(hand.peakRssMiB),
        pipelinePeakRssMiB: Math.round(pipe.peakRssMiB),
        classDisagreements: disagree,
        target: 0.9,
        verdict: ratio >= 0.9 && disagree === 0 ? 'pass' : 'fail',
      }),
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
