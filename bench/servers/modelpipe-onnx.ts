// modelpipe serving an ONNX file (argv[2]); batching off so batches stay as clients sent them.
import { OnnxModel } from '../../src/models/onnx/onnx-model.js';
import { serveModel } from '../../src/server/serve.js';

const model = await OnnxModel.load({ path: process.argv[2] as string, instances: Number(process.argv[3] ?? 1) });
const s = await serveModel(model, { scheduler: { batching: undefined, maxQueueSize: 10_000 } });
console.log(`listening on ${s.url}`);
