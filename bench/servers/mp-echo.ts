// modelpipe serving the same echo as graphpipe-go's ServeRaw peer (test/peers/go/gpserve echo):
// input in0 (float32, any 2-D shape) comes back as out0. Prints its URL.
// `node mp-echo.js [PORT] [PROCESSES]`: with PROCESSES > 1, that many server processes
// share the port through node:cluster, as `serve --processes N` runs its workers.
// SIGTERM stops it cleanly (so `--cpu-prof` writes its profile).
import cluster from 'node:cluster';
import { FunctionModel } from '../../src/models/function-model.js';
import { serveModel } from '../../src/server/serve.js';
import type { Tensor } from '../../src/tensor/index.js';

const port = Number(process.argv[2] ?? 0);
const processes = Number(process.argv[3] ?? 1);

if (processes > 1 && cluster.isPrimary) {
  for (let i = 0; i < processes; i++) cluster.fork();
  // Every worker listens on the one port the primary picked; the URL once all do.
  let listening = 0;
  cluster.on('listening', (_w, address) => {
    if (++listening === processes) console.log(`listening on http://127.0.0.1:${address.port}`);
  });
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
  });
} else {
  const model = new FunctionModel((inputs) => ({ out0: inputs.in0 as Tensor }), {
    name: 'echo',
    inputs: [{ name: 'in0', dtype: 'float32', shape: [-1, -1] }],
    outputs: [{ name: 'out0', dtype: 'float32', shape: [-1, -1] }],
  });
  const srv = await serveModel(model, { port });
  if (cluster.isPrimary) console.log(`listening on ${srv.url}`);
  process.on('SIGTERM', () => {
    void srv.close().then(() => process.exit(0));
  });
}
