// onnxruntime-node in-process at several batch sizes: the limit for the batching benchmark.
import * as ort from 'onnxruntime-node';

const [path, secondsArg, ...sizes] = process.argv.slice(2);
const session = await ort.InferenceSession.create(path as string);
const out: Record<string, { rowsPerSec: number; msPerBatch: number }> = {};
for (const b of sizes.map(Number)) {
  const feeds = {
    [session.inputNames[0] as string]: new ort.Tensor('float32', new Float32Array(b * 3 * 224 * 224).fill(100), [b, 3, 224, 224]),
  };
  await session.run(feeds);
  const end = performance.now() + Number(secondsArg) * 1000;
  let n = 0;
  const t0 = performance.now();
  while (performance.now() < end) {
    await session.run(feeds);
    n++;
  }
  const secs = (performance.now() - t0) / 1000;
  out[b] = { rowsPerSec: (n * b) / secs, msPerBatch: (secs * 1000) / n };
}
console.log(JSON.stringify(out));
