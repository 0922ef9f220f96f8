/**
 * Ensembles with RunInference, on the shared models and images:
 *   node dist/examples/runinference/ensemble.js [shared-dir]
 *
 * 1. Branching: the same images go to squeezenet (ImageNet class) and mnist (a "digit"
 *    for the grayscale thumbnail), and the two results are joined per image.
 * 2. Sequencing: squeezenet's output, post-processed to its top-1 class, is the input of
 *    a second model (here a TypeScript label model).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  Flow,
  functionHandler,
  onnxHandler,
  presetPreprocess,
  top1,
  withPostprocess,
  withPreprocess,
} from '../../src/runinference/index.js';
import { Tensor } from '../../src/tensor/index.js';

const shared = process.argv[2] ?? join(process.cwd(), '..', 'shared');
const images = ['mug227.png', 'dog.jpg', 'fish.png', 'hummingbird.jpg'];
const read = (name: string) => readFile(join(shared, 'images', name));

const squeezenetInput = presetPreprocess('squeezenet'); // the Classy preprocessor
const squeezenet = withPostprocess(
  withPreprocess(onnxHandler({ model: join(shared, 'models/squeezenet1.1.onnx') }), async (n: string) => squeezenetInput(await read(n))),
  (out) => top1(out.softmaxout_1 as Tensor).index,
);
const mnist = withPostprocess(
  withPreprocess(onnxHandler({ model: join(shared, 'models/mnist.onnx') }), async (n: string) => {
    const px = await sharp(await read(n))
      .grayscale()
      .resize(28, 28, { fit: 'fill' })
      .raw()
      .toBuffer();
    return new Tensor('float32', [1, 1, 28, 28], Float32Array.from(px));
  }),
  (out) => top1(out.Plus214_Output_0 as Tensor).index,
);

// 1. Branching: one source, two models, joined back (both branches keep input order).
const [toSqueeze, toMnist] = Flow.from(images).branch(2) as [Flow<string>, Flow<string>];
for await (const [s, m] of Flow.zip(toSqueeze.runInference(squeezenet), toMnist.runInference(mnist))) {
  console.log(`${s.example}: imagenet class ${s.inference} (${s.modelId}), mnist digit ${m.inference} (${m.modelId})`);
}

// 2. Sequencing: A's output, post-processed, into B.
const labels = (await readFile(join(shared, 'models/imagenet-labels.txt'), 'utf8')).split('\n');
const labelModel = functionHandler((classes: readonly number[]) => classes.map((c) => labels[c]?.trim() ?? '?'), { modelId: 'labels' });
const report = await Flow.from(images)
  .runInference(squeezenet, { name: 'squeezenet' })
  .map((r) => r.inference)
  .runInference(labelModel, { name: 'labels' })
  .tap((r) => console.log(`class ${r.example} → ${r.inference}`))
  .run({ summary: true });
process.exitCode = report.items === images.length ? 0 : 1;
