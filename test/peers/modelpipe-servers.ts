import { Engine } from '../../src/core/engine.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { HttpServer } from '../../src/server/http-server.js';
import { type DType, Tensor } from '../../src/tensor/index.js';
import { NUMERIC } from './cases.js';

/**
 * modelpipe servers for the peers to call: one typed identity model per dtype
 * (`/models/id-<dtype>`, input x, output y, rank 2) and `/models/multi` (three inputs
 * of different dtypes echoed back, plus the request's config string as `cfg`).
 */
export async function startIdentityServers(opts: { bodyLimit?: number } = {}): Promise<{ url: string; close(): Promise<void> }> {
  const engine = new Engine();
  for (const dtype of [...NUMERIC, 'string'] as DType[]) {
    const m = new FunctionModel((inputs) => ({ y: inputs.x as Tensor }), {
      name: `id-${dtype}`,
      inputs: [{ name: 'x', dtype, shape: [-1, -1] }],
      outputs: [{ name: 'y', dtype, shape: [-1, -1] }],
    });
    engine.add(m.metadata.name, m);
  }
  const multi = new FunctionModel(
    (inputs, config) => ({
      oa: inputs.a as Tensor,
      ob: inputs.b as Tensor,
      oc: inputs.c as Tensor,
      cfg: Tensor.fromStrings([config], [1]),
    }),
    {
      name: 'multi',
      inputs: [
        { name: 'a', dtype: 'float32', shape: [-1, -1] },
        { name: 'b', dtype: 'int64', shape: [-1] },
        { name: 'c', dtype: 'string', shape: [-1] },
      ],
      outputs: [
        { name: 'oa', dtype: 'float32', shape: [-1, -1] },
        { name: 'ob', dtype: 'int64', shape: [-1] },
        { name: 'oc', dtype: 'string', shape: [-1] },
        { name: 'cfg', dtype: 'string', shape: [1] },
      ],
    },
  );
  engine.add('multi', multi);
  const server = new HttpServer({ engine, ...(opts.bodyLimit !== undefined ? { bodyLimit: opts.bodyLimit } : {}) });
  await server.listen(0, '127.0.0.1');
  return { url: server.url, close: () => server.close() };
}
