// modelpipe serving the same echo as graphpipe-go's ServeRaw peer (test/peers/go/gpserve echo):
// input in0 (float32, any 2-D shape) comes back as out0. Prints its URL.
import { FunctionModel } from '../../src/models/function-model.js';
import { serveModel } from '../../src/server/serve.js';
import type { Tensor } from '../../src/tensor/index.js';

const model = new FunctionModel((inputs) => ({ out0: inputs.in0 as Tensor }), {
  name: 'echo',
  inputs: [{ name: 'in0', dtype: 'float32', shape: [-1, -1] }],
  outputs: [{ name: 'out0', dtype: 'float32', shape: [-1, -1] }],
});
const srv = await serveModel(model, { port: Number(process.argv[2] ?? 0) });
console.log(`listening on ${srv.url}`);
