// An identity function model on modelpipe, for the small-request benchmark.
import { traceConfigFrom } from '../../src/observe/trace-config.js';
import { startTracing, stopTracing, tracingOn } from '../../src/observe/tracing.js';
import { serve } from '../../src/server/serve.js';

// OTEL_* in the environment trace it (the tracing benchmark); unset, tracing stays off.
const tracing = traceConfigFrom(process.env);
if (tracing) await startTracing(tracing);
// BENCH_TOGGLE=1 (the tracing-toggle benchmark): SIGUSR2 turns tracing off, and on again, in this process.
if (tracing && process.env.BENCH_TOGGLE === '1') process.on('SIGUSR2', () => void (tracingOn() ? stopTracing() : startTracing(tracing)));

/** BENCH_BURN_US: busy work per request, the tracing benchmark's control (what a longer request path costs here). */
const burnMs = Number(process.env.BENCH_BURN_US ?? 0) / 1000;

const s = await serve(
  (inputs) => {
    if (burnMs > 0) for (const end = performance.now() + burnMs; performance.now() < end; );
    return { y: inputs.x as never };
  },
  {
    name: 'identity',
    inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 4] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 4] }],
    batchable: false,
  },
);
console.log(`listening on ${s.url}`);
