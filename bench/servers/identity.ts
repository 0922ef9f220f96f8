// An identity function model on modelpipe, for the small-request benchmark.
import { traceConfigFrom } from '../../src/observe/trace-config.js';
import { startTracing, stopTracing, tracingOn } from '../../src/observe/tracing.js';
import { serve } from '../../src/server/serve.js';

// OTEL_* in the environment trace it (the tracing benchmark); unset, tracing stays off.
const tracing = traceConfigFrom(process.env);
if (tracing) await startTracing(tracing);
// BENCH_TOGGLE=1 (the tracing-toggle and tracing-flip benchmarks): SIGUSR2 turns tracing off, and on again, in this process.
if (tracing && process.env.BENCH_TOGGLE === '1') process.on('SIGUSR2', () => void (tracingOn() ? stopTracing() : startTracing(tracing)));

/*
 * BENCH_TOGGLE=1, for tracing-flip: SIGUSR1 marks a phase. It prints the requests
 * served and the process's CPU time since the last mark ("mark <requests> <cpu µs>
 * <wall ms>"), measured here because the load runs on without a pause across phases.
 */
let served = 0;
let since = { cpu: process.cpuUsage(), at: performance.now() };
if (process.env.BENCH_TOGGLE === '1')
  process.on('SIGUSR1', () => {
    const cpu = process.cpuUsage(since.cpu);
    const at = performance.now();
    console.log(`mark ${served} ${cpu.user + cpu.system} ${(at - since.at).toFixed(1)}`);
    served = 0;
    since = { cpu: process.cpuUsage(), at };
  });

/** BENCH_BURN_US: busy work per request, the tracing benchmark's control (what a longer request path costs here). */
const burnMs = Number(process.env.BENCH_BURN_US ?? 0) / 1000;

const s = await serve(
  (inputs) => {
    served++;
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
