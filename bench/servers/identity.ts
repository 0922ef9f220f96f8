// An identity function model on modelpipe, for the small-request benchmark.
import { traceConfigFrom } from '../../src/observe/trace-config.js';
import { startTracing } from '../../src/observe/tracing.js';
import { serve } from '../../src/server/serve.js';

// OTEL_* in the environment trace it (the tracing benchmark); unset, tracing stays off.
const tracing = traceConfigFrom(process.env);
if (tracing) await startTracing(tracing);

const s = await serve((inputs) => ({ y: inputs.x as never }), {
  name: 'identity',
  inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 4] }],
  outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 4] }],
  batchable: false,
});
console.log(`listening on ${s.url}`);
