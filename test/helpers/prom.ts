import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { GraphPipeClient } from '../../src/client/graphpipe-client.js';
import { FunctionModel } from '../../src/models/function-model.js';
import { type RunningServer, serveModel } from '../../src/server/serve.js';
import type { Tensor } from '../../src/tensor/index.js';
import { sharedPath } from './shared.js';
import { CLI, startPrintingUrl, stop } from './spawn.js';

/** The sum of a metric's samples (exact sample name) whose label text matches `labels`. */
export function sampleSum(metrics: string, name: string, labels = /.*/): number {
  let sum = 0;
  for (const line of metrics.split('\n')) {
    const m = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`).exec(line);
    if (m && labels.test(m[1] ?? '')) sum += Number(m[2]);
  }
  return sum;
}

/** Every sample name in a /metrics text (histograms give name_bucket, name_sum, name_count). */
export function sampleNames(metrics: string): Set<string> {
  const names = new Set<string>();
  for (const line of metrics.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (m) names.add(m[1] as string);
  }
  return names;
}

/**
 * Metric names a PromQL expression reads: identifiers followed by a selector, or
 * standing alone, that are not functions, keywords, label names or durations.
 * Good enough for the dashboard's and alerts' expressions (checked by the tests that use it).
 */
export function promqlMetricNames(expr: string): string[] {
  const noStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const noLabels = noStrings.replace(/\{[^}]*\}/g, '{}').replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const noRanges = noLabels.replace(/\[[^\]]*\]/g, '[]');
  const names = new Set<string>();
  for (const m of noRanges.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const id = m[0];
    const next = noRanges.slice((m.index ?? 0) + id.length).trimStart()[0];
    if (next === '(') continue; // a function or aggregation
    if (PROMQL_WORDS.has(id) || id.startsWith('$')) continue;
    if (/^\d/.test(id)) continue;
    names.add(id);
  }
  return [...names];
}

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
]);

export const SLOW_MS = 20;

/**
 * A function model that sleeps SLOW_MS per run ("slow": input x float32 [-1, 2], output y),
 * served over GraphPipe and OIP REST; unbatched, so each request is one run.
 */
export function serveSlowModel(): Promise<RunningServer> {
  const model = new FunctionModel(
    async (inputs) => {
      await new Promise((r) => setTimeout(r, SLOW_MS));
      return { y: inputs.x as Tensor };
    },
    {
      name: 'slow',
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2] }],
    },
  );
  return serveModel(model, { scheduler: { batching: undefined } });
}

/** One OIP REST inference of `body`; resolves with the status and the x-modelpipe-error code. */
export async function oipInfer(url: string, model: string, body: string): Promise<{ status: number; code: string | null }> {
  const r = await fetch(`${url}/v2/models/${model}/infer`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  await r.arrayBuffer();
  return { status: r.status, code: r.headers.get('x-modelpipe-error') };
}

export const GOOD_SLOW = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] });
/** Wrong shape: the engine refuses it (counted inside Engine.infer). */
export const BAD_SHAPE_SLOW = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] });
/** Not JSON: the frontend's decode refuses it (counted through server/phases.ts). */
export const NOT_JSON = '{"inputs": [';

/** A good input for mnist.onnx (shared data). */
export const GOOD_MNIST = JSON.stringify({
  inputs: [{ name: 'Input3', shape: [1, 1, 28, 28], datatype: 'FP32', data: new Array(784).fill(0) }],
});

/**
 * /metrics of a real server after good and bad requests: the function model in this
 * process, plus (when the shared mnist model is there) `serve --processes 2`, whose
 * primary adds the process metrics. Used to check that dashboards and alerts name
 * only metrics that exist.
 */
export async function liveMetrics(): Promise<{ single: string; cluster: string | undefined }> {
  const srv = await serveSlowModel();
  // A client of an endpoint set in this process: the server itself and one that passes
  // its readiness probe but answers every call 503, so tries fail over and are retried.
  // Its per-endpoint series (tries, retries, ejections, failures) join every /metrics here.
  const draining = createServer((req, res) => res.writeHead(req.url === '/health/ready' ? 200 : 503).end());
  await new Promise<void>((r) => draining.listen(0, '127.0.0.1', r));
  const client = new GraphPipeClient(`${srv.url},http://127.0.0.1:${(draining.address() as { port: number }).port}`);
  let single: string;
  try {
    for (const body of [GOOD_SLOW, GOOD_SLOW, BAD_SHAPE_SLOW, NOT_JSON]) await oipInfer(srv.url, 'slow', body);
    // Until a try has failed over: the draining endpoint joins the rotation only once its
    // probe has passed, which on a loaded machine can come after the first calls.
    single = '';
    for (let i = 0; i < 200 && !single.includes('modelpipe_client_failures_total{'); i++) {
      for (let k = 0; k < 8; k++) await client.metadata();
      single = await (await fetch(`${srv.url}/metrics`)).text();
      if (!single.includes('modelpipe_client_failures_total{')) await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await client.close();
    await srv.close();
    await new Promise((r) => draining.close(r));
  }
  const mnist = sharedPath('models/mnist.onnx');
  if (!existsSync(mnist)) return { single, cluster: undefined };
  const s = await startPrintingUrl([CLI, 'serve', mnist, '--listen', '127.0.0.1:0', '--processes', '2'], 60_000);
  try {
    await until(async () => (await fetch(`${s.url}/health/ready`)).status === 200);
    for (const body of [GOOD_MNIST, NOT_JSON]) await oipInfer(s.url, 'mnist', body);
    return { single, cluster: await (await fetch(`${s.url}/metrics`)).text() };
  } finally {
    await stop(s.proc);
  }
}

/** Polls until `f` holds (30 s at most). */
export async function until(f: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f().catch(() => false))) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
