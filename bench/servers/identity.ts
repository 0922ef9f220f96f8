// An identity function model on modelpipe, for the small-request benchmark.
import { serve } from '../../src/server/serve.js';

const s = await serve((inputs) => ({ y: inputs.x as never }), {
  name: 'identity',
  inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 4] }],
  outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 4] }],
  batchable: false,
});
console.log(`listening on ${s.url}`);
