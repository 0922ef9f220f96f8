import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import {
  type DeadLetter,
  Flow,
  functionHandler,
  onnxHandler,
  presetPreprocess,
  top1,
  withPostprocess,
  withPreprocess,
} from '../../src/runinference/index.js';
import { classifyDir } from '../../src/apps/classify-dir/classify-dir.js';
import { Tensor } from '../../src/tensor/index.js';
import { needShared, sharedPath } from '../helpers/shared.js';

const skip = needShared('models/squeezenet1.1.onnx', 'models/mnist.onnx', 'images/mug227.png');
const IMAGES: [string, number][] = [
  ['mug227.png', 504],
  ['dog.jpg', 207],
  ['fish.png', 0],
  ['hummingbird.jpg', 94],
];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const squeezenetPreprocess = presetPreprocess('squeezenet'); // the Classy preprocessor

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runinf-onnx-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The mnist input for a digit-ish image: grayscale 28×28, 0–255 → [1,1,28,28]. */
async function mnistInput(img: Uint8Array): Promise<Tensor> {
  const raw = await sharp(img).grayscale().resize(28, 28, { fit: 'fill' }).raw().toBuffer();
  return new Tensor('float32', [1, 1, 28, 28], Float32Array.from(raw));
}

describe('ONNX handler (worker threads)', { skip }, () => {
  it('classifies the shared images with squeezenet, batched, same as one at a time', async () => {
    const onnx = onnxHandler({ model: sharedPath('models/squeezenet1.1.onnx'), workers: 2 });
    const h = withPreprocess(onnx, async (name: string) => squeezenetPreprocess(await readFile(sharedPath(`images/${name}`))));
    const names = IMAGES.map(([n]) => n);
    const batched = await Flow.from([...names, ...names])
      .runInference(h, { maxBatchSize: 8, minBatchSize: 8 })
      .collect();
    const single = await Flow.from(names).runInference(h, { maxBatchSize: 1 }).collect();
    assert.equal(batched.length, 8);
    for (const r of batched) {
      const expected = IMAGES.find(([n]) => n === r.example)?.[1];
      const probs = r.inference.softmaxout_1 as Tensor;
      assert.deepEqual(probs.shape, [1, 1000, 1, 1]);
      assert.equal(top1(probs).index, expected, r.example);
      const one = single.find((s) => s.example === r.example)?.inference.softmaxout_1 as Tensor;
      const a = probs.data as Float32Array;
      const b = one.data as Float32Array;
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs((a[i] as number) - (b[i] as number)) < 1e-4);
    }
    assert.match(batched[0]?.modelId ?? '', /^squeezenet1\.1\.onnx@[0-9a-f]{12}$/);
    assert.equal(onnx.concurrency, 2);
    await onnx.unload();
  });

  it('loads a model once per process: handlers of the same file share one worker pool', async () => {
    const h1 = onnxHandler({ model: sharedPath('models/mnist.onnx') });
    const h2 = onnxHandler({ model: sharedPath('models/mnist.onnx') });
    await Promise.all([h1.load(), h2.load()]);
    assert.ok(h1.inputs.length === 1 && h1.inputs === h2.inputs, 'same pool metadata object');
    assert.equal(h1.modelId, h2.modelId);
    await h1.unload();
    // The pool stays up while h2 holds it.
    const x = new Tensor('float32', [1, 1, 28, 28], new Float32Array(784));
    assert.equal((await h2.runBatch([x])).predictions.length, 1);
    await h2.unload();
  });

  it('runs a fixed-batch model (mnist) one example at a time inside larger batches', async () => {
    const onnx = onnxHandler({ model: sharedPath('models/mnist.onnx') });
    const xs = Array.from({ length: 5 }, (_, k) => new Tensor('float32', [1, 1, 28, 28], new Float32Array(784).fill(k * 40)));
    const out = await Flow.from(xs).runInference(onnx, { maxBatchSize: 5 }).collect();
    assert.equal(out.length, 5);
    const direct = await onnx.runBatch([xs[3] as Tensor]);
    assert.deepEqual(
      [...((out[3]?.inference.Plus214_Output_0 ?? Tensor.zeros('float32', [0])).data as Float32Array)],
      [...((direct.predictions[0]?.Plus214_Output_0 ?? Tensor.zeros('float32', [1])).data as Float32Array)],
    );
    // A wrong input shape is a per-batch failure (dead letter), not a crash, with the
    // server's validation code (the engine checks the stack before it reaches a worker).
    const dead: DeadLetter[] = [];
    const bad = await Flow.from([new Tensor('float32', [1, 1, 5, 5], new Float32Array(25))])
      .runInference(onnx, { deadLetter: (d) => void dead.push(d) })
      .collect();
    assert.equal(bad.length, 0);
    assert.equal(dead[0]?.stage, 'inference');
    assert.equal(dead[0]?.error.code, 'MP_ERR_INPUT_DIM');
    await onnx.unload();
  });

  it('refreshes a watched model mid-stream: modelId changes, no example fails', async () => {
    const path = join(dir, 'mnist-live.onnx');
    await copyFile(sharedPath('models/mnist.onnx'), path);
    const onnx = onnxHandler({ model: path, watch: { intervalMs: 50 } });
    const dead: DeadLetter[] = [];
    const x = new Tensor('float32', [1, 1, 28, 28], new Float32Array(784).fill(100));
    let fed = 0;
    const source = (async function* () {
      // 40 examples, and on a busy machine more, until 3 follow the swap: no fixed window to beat.
      let swappedAt = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 40 || i < swappedAt + 3; i++) {
        if (swappedAt === Number.POSITIVE_INFINITY && onnx.refreshes > 0) swappedAt = i;
        assert.ok(i < 5000, 'the watcher never swapped the model in');
        fed = i + 1;
        if (i === 15) {
          // A new version of the model: same graph, different producer version → new bytes.
          const bytes = await readFile(sharedPath('models/mnist.onnx'));
          const at = bytes.indexOf(Buffer.from('2.5.1'));
          assert.ok(at > 0);
          bytes.write('2.5.2', at);
          await writeFile(`${path}.tmp`, bytes);
          await rename(`${path}.tmp`, path); // atomic swap, as a deploy would do
        }
        await sleep(15);
        yield x;
      }
    })();
    const out = await Flow.from(source)
      .runInference(onnx, { maxBatchSize: 2, deadLetter: (d) => void dead.push(d) })
      .collect();
    assert.equal(dead.length, 0, JSON.stringify(dead));
    assert.equal(out.length, fed);
    const ids = out.map((r) => r.modelId);
    const distinct = [...new Set(ids)];
    assert.equal(distinct.length, 2, `model ids ${distinct}`);
    // Switches once: every result after the first new-model result comes from the new model.
    const firstNew = ids.indexOf(distinct[1] as string);
    assert.ok(firstNew >= 15 && ids.slice(firstNew).every((id) => id === distinct[1]));
    assert.equal(onnx.refreshes, 1);
    // Same weights, so the same scores from both versions.
    const a = (out[0]?.inference.Plus214_Output_0 ?? Tensor.zeros('float32', [0])).data;
    const b = (out[fed - 1]?.inference.Plus214_Output_0 ?? Tensor.zeros('float32', [1])).data;
    assert.deepEqual([...a], [...b]);
    // A broken deploy: the file no longer loads. The model in use stays, and keeps working.
    const before = onnx.modelId;
    await writeFile(`${path}.tmp`, 'not an onnx model');
    await rename(`${path}.tmp`, path);
    await sleep(400); // several polls
    assert.equal(onnx.refreshes, 1);
    assert.equal(onnx.modelId, before);
    assert.equal((await onnx.runBatch([x])).modelId, before);
    await onnx.unload();
  });

  it('ensembles: branch one image stream into squeezenet and mnist, and sequence squeezenet → label model', async () => {
    const images = IMAGES.map(([n]) => n);
    const load = (n: string) => readFile(sharedPath(`images/${n}`));
    const squeeze = withPostprocess(
      withPreprocess(onnxHandler({ model: sharedPath('models/squeezenet1.1.onnx') }), async (n: string) =>
        squeezenetPreprocess(await load(n)),
      ),
      (o) => top1(o.softmaxout_1 as Tensor).index,
    );
    const mnist = withPostprocess(
      withPreprocess(onnxHandler({ model: sharedPath('models/mnist.onnx') }), async (n: string) => mnistInput(await load(n))),
      (o) => top1(o.Plus214_Output_0 as Tensor).index,
    );
    // Branching: same data to two models, joined back per example.
    const [a, b] = Flow.from(images).branch(2) as [Flow<string>, Flow<string>];
    const both = await Flow.zip(a.runInference(squeeze), b.runInference(mnist))
      .map(([s, m]) => ({ image: s.example, imagenet: s.inference, digit: m.inference, same: s.example === m.example }))
      .collect();
    assert.deepEqual(
      both.map((r) => [r.image, r.imagenet]),
      IMAGES,
    );
    for (const r of both) {
      assert.ok(r.same);
      assert.ok(Number.isInteger(r.digit) && r.digit >= 0 && r.digit <= 9);
    }
    // Sequencing: A's output, post-processed (top-1 class), is B's input.
    const labels = (await readFile(sharedPath('models/imagenet-labels.txt'), 'utf8')).split('\n');
    const labeler = functionHandler((classes: readonly number[]) => classes.map((c) => labels[c]?.trim() ?? '?'), { modelId: 'labels' });
    const seq = await Flow.from(['mug227.png'])
      .runInference(squeeze)
      .map((r) => r.inference)
      .runInference(labeler)
      .collect();
    assert.match(seq[0]?.inference ?? '', /coffee mug/i);
  });

  it('classifyDir writes JSONL, CSV and SQLite; a corrupt image is a dead letter, not a crash', async () => {
    const imgs = join(dir, 'imgs');
    await rm(imgs, { recursive: true, force: true });
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(imgs, 'sub'), { recursive: true });
    for (const [n] of IMAGES) await copyFile(sharedPath(`images/${n}`), join(imgs, n));
    await copyFile(sharedPath('images/mug227.png'), join(imgs, 'sub', 'mug-copy.png'));
    await writeFile(join(imgs, 'broken.png'), 'not a png');
    const model = sharedPath('models/squeezenet1.1.onnx');
    const opts = { model, batchSize: 4, progress: false, summary: false } as const;
    const r1 = await classifyDir(imgs, { ...opts, out: join(dir, 'c.jsonl') });
    assert.equal(r1.items, 5);
    assert.equal(r1.deadLetters, 1);
    assert.deepEqual(
      r1.failures.map((f) => [f.path, f.code]),
      [['broken.png', 'MP_ERR_IMAGE_DECODE']],
    );
    const rows = (await readFile(join(dir, 'c.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string; class: number; label: string });
    const byPath = Object.fromEntries(rows.map((r) => [r.path, r]));
    assert.equal(byPath['mug227.png']?.class, 504);
    assert.match(byPath['mug227.png']?.label ?? '', /coffee mug/);
    assert.equal(byPath['sub/mug-copy.png']?.class, 504);
    for (const [n, c] of IMAGES) assert.equal(byPath[n]?.class, c, n);
    await classifyDir(imgs, { ...opts, out: join(dir, 'c.csv') });
    const csvText = await readFile(join(dir, 'c.csv'), 'utf8');
    assert.match(csvText.split('\n')[0] ?? '', /^path,class,label,score,model_id$/);
    assert.equal(csvText.trim().split('\n').length, 6);
    await classifyDir(imgs, { ...opts, out: join(dir, 'c.db') });
    await classifyDir(imgs, { ...opts, out: join(dir, 'c.db') }); // rerun: keyed by path, no duplicates
    const db = new Database(join(dir, 'c.db'), { readonly: true });
    const n = db.prepare('SELECT count(*) AS n FROM classifications').get() as { n: number };
    const mug = db.prepare("SELECT class FROM classifications WHERE path = 'mug227.png'").get() as { class: number };
    db.close();
    assert.equal(n.n, 5);
    assert.equal(mug.class, 504);
  });
});
