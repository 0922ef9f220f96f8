// The limit: onnxruntime-node running the same batches in-process in a loop. Prints rows/s as JSON.
import * as ort from 'onnxruntime-node';

const [path, batchArg, secondsArg] = process.argv.slice(2);
const batch = Number(batchArg ?? 16);
const session = await ort.InferenceSession.create(path as string);
const input = new ort.Tensor('float32', new Float32Array(batch * 3 * 224 * 224).fill(100), [batch, 3, 224, 224]);
const feeds = { [session.inputNames[0] as string]: input };
await session.run(feeds);
const end = performance.now() + Number(secondsArg ?? 5) * 1000;
let rows = 0;
const t0 = performance.now();
while (performance.now() < end) {
  await session.run(feeds);
  rows += batch;
}
console.log(JSON.stringify({ rowsPerSec: rows / ((performance.now() - t0) / 1000) }));
