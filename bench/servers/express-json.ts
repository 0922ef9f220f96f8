// How a typical Node developer serves an ONNX model: Express, JSON bodies, session.run in the handler.
import express from 'express';
import * as ort from 'onnxruntime-node';

const session = await ort.InferenceSession.create(process.argv[2] as string);
const app = express();
app.use(express.json({ limit: '512mb' }));
app.post('/predict', async (req, res) => {
  const nested = (req.body as { inputs: number[][][][] }).inputs;
  const n = nested.length;
  const flat = Float32Array.from(nested.flat(3) as number[]);
  const out = await session.run({ [session.inputNames[0] as string]: new ort.Tensor('float32', flat, [n, 3, 224, 224]) });
  const t = out[session.outputNames[0] as string] as ort.Tensor;
  const probs = Array.from(t.data as Float32Array);
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) rows.push(probs.slice(i * 1000, (i + 1) * 1000));
  res.json({ outputs: rows });
});
const srv = app.listen(0, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${(srv.address() as { port: number }).port}`));
