import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { classifyImages } from '../src/apps/classy/client.js';
import { loadLabels } from '../src/vision/labels.js';
import { preprocessImages } from '../src/vision/preprocess.js';
import { startStack } from '../src/apps/classy/stack.js';
import { multiRemoteRaw } from '../src/client/graphpipe-client.js';
import { closedLoop } from './load.js';
import type { Tensor } from '../src/tensor/index.js';

/**
 * Classy pipeline throughput: images/s through downloader → preprocessor → model
 * (images served by a loopback HTTP server) versus the model server alone fed
 * pre-made tensors, same batch sizes, same closed-loop concurrency, same model
 * server. Overhead = 1 − pipeline/model. Target: ≤ 15 %. Numbers are as measured.
 *
 *   node dist/bench/classy.js [--seconds S] [--concurrency C] [--batches 1,4,8]
 *   (MODELPIPE_SHARED points at the folder holding models/ and images/)
 */

const TARGET = 0.15;
const NAMES = ['mug227.png', 'hummingbird.jpg', 'dog.jpg', 'fish.png'];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

async function imageHost(dir: string): Promise<{ base: string; close: () => Promise<void> }> {
  const files = new Map(NAMES.map((n) => [`/${n}`, readFileSync(join(dir, n))]));
  const server = createServer((req, res) => {
    const body = files.get(req.url ?? '');
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': req.url?.endsWith('.png') ? 'image/png' : 'image/jpeg', 'content-length': body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, close: () => new Promise((r) => server.close(() => r())) };
}

/** Calls per second of `fn` from `concurrency` callers back to back, after a 0.5 s warm-up. */
async function callsPerSecond(fn: () => Promise<unknown>, concurrency: number, seconds: number): Promise<number> {
  const call = async () => {
    await fn();
    return { ok: true };
  };
  await closedLoop(call, concurrency, 0.5);
  return (await closedLoop(call, concurrency, seconds)).rps;
}

export interface Row {
  batch: number;
  modelImagesPerS: number;
  pipelineImagesPerS: number;
  overhead: number;
}

export async function main(): Promise<{ rows: Row[]; pass: boolean }> {
  const root = resolve(fileURLToPath(import.meta.url), '../../..');
  const shared = process.env.MODELPIPE_SHARED ?? join(root, '..', 'shared');
  const seconds = Number(arg('seconds', '3'));
  const concurrency = Number(arg('concurrency', '4'));
  const batches = arg('batches', '1,4,8').split(',').map(Number);
  const host = await imageHost(join(shared, 'images'));
  const stack = await startStack({
    modelPath: join(shared, 'models/squeezenet1.1.onnx'),
    labels: await loadLabels(join(shared, 'models/imagenet-labels.txt')),
    preset: 'squeezenet',
    download: { allowPrivate: true },
    playground: false,
  });
  const rows: Row[] = [];
  try {
    const bytes = NAMES.map((n) => new Uint8Array(readFileSync(join(shared, 'images', n))));
    for (const b of batches) {
      const pick = <T>(xs: readonly T[]): T[] => Array.from({ length: b }, (_, i) => xs[i % xs.length] as T);
      const tensor: Tensor = await preprocessImages(pick(bytes), 'squeezenet');
      const urls = pick(NAMES).map((n) => ({ url: `${host.base}/${n}` }));
      const modelRps = await callsPerSecond(() => multiRemoteRaw(stack.endpoints.model, [tensor]), concurrency, seconds);
      const pipeRps = await callsPerSecond(() => classifyImages(urls, stack.endpoints), concurrency, seconds);
      const row = { batch: b, modelImagesPerS: modelRps * b, pipelineImagesPerS: pipeRps * b, overhead: 1 - pipeRps / modelRps };
      rows.push(row);
    }
  } finally {
    await stack.close();
    await host.close();
  }
  const pass = rows.every((r) => r.overhead <= TARGET);
  console.log(`classy pipeline vs model alone (squeezenet1.1, concurrency ${concurrency}, ${seconds}s each)`);
  console.log('batch | model img/s | pipeline img/s | overhead');
  for (const r of rows)
    console.log(
      `${String(r.batch).padStart(5)} | ${r.modelImagesPerS.toFixed(1).padStart(11)} | ${r.pipelineImagesPerS.toFixed(1).padStart(14)} | ${(r.overhead * 100).toFixed(1).padStart(7)}%`,
    );
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  console.log(
    JSON.stringify({
      bench: 'classy',
      concurrency,
      seconds,
      target_overhead: TARGET,
      rows: rows.map((r) => ({
        batch: r.batch,
        model_ips: round(r.modelImagesPerS),
        pipeline_ips: round(r.pipelineImagesPerS),
        overhead: round(r.overhead),
      })),
      verdict: pass ? 'pass' : 'fail',
    }),
  );
  return { rows, pass };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
