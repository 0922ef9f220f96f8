import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelpipeError } from '../errors/index.js';
import { type Protocol, runPerf } from '../perf/index.js';
import type { Measurement } from './search.js';
import { type TuneSetting, toModelConfig } from './setting.js';

/** The CLI beside this module in dist/ (spawned by path: a trial is a separate server process). */
const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export interface TrialOptions {
  modelPath: string;
  /** The model's name on the server (OIP). */
  model: string;
  protocol: Protocol;
  /** Closed loop at this concurrency, unless `rate` is set (open loop, requests/s). */
  concurrency: number;
  rate?: number;
  trialMs: number;
  /** Longest a server may take to answer ready. */
  startMs: number;
}

async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Polls the OIP readiness route until the model is served, the process exits, or time runs out. */
async function waitReady(url: string, model: string, proc: ChildProcess, ms: number, out: () => string): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (proc.exitCode !== null) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `server exited with ${proc.exitCode}: ${out()}`);
    const ready = await fetch(`${url}/v2/models/${model}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new ModelpipeError('MP_ERR_BAD_CONFIG', `server not ready within ${ms} ms: ${out()}`);
}

/**
 * One trial: a fresh `modelpipe serve` child with the setting's config (so trials share
 * no state, and --processes gets its own process tree), a short warm-up, then one
 * measured step with src/perf. The server is stopped whatever happens.
 */
export async function runTrial(s: TuneSetting, o: TrialOptions): Promise<Measurement> {
  const dir = mkdtempSync(join(tmpdir(), 'modelpipe-tune-'));
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(toModelConfig(s)));
  const port = await freePort();
  const args = [CLI, 'serve', o.modelPath, '--listen', `127.0.0.1:${port}`, '--model-config', configFile, '--log-level', 'warn'];
  if (s.processes > 1) args.push('--processes', String(s.processes));
  // gRPC trials need the server's gRPC listener; readiness is still asked over HTTP.
  const grpcPort = o.protocol === 'grpc' ? await freePort() : undefined;
  if (grpcPort !== undefined) args.push('--grpc-listen', `127.0.0.1:${grpcPort}`);
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let out = '';
  proc.stderr?.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-2000);
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(url, o.model, proc, o.startMs, () => out);
    const step = (ms: number) =>
      runPerf({
        url: grpcPort === undefined ? url : `grpc://127.0.0.1:${grpcPort}`,
        protocol: o.protocol,
        model: o.model,
        concurrency: [o.concurrency],
        rates: o.rate === undefined ? [] : [o.rate],
        arrivals: 'constant',
        windowMs: Math.max(50, Math.floor(ms / 3)),
        stability: 10,
        stepCapMs: ms,
        maxInFlight: Math.max(256, o.concurrency),
        timeoutMs: 30_000,
        data: 'random',
      });
    // Warm-up: first runs allocate and page in; they are not the setting's speed.
    await step(Math.max(150, o.trialMs / 4));
    const r = (await step(o.trialMs)).steps[0];
    if (!r) throw new ModelpipeError('MP_ERR_BAD_CONFIG', 'perf measured no step');
    const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
    return { throughput: r.throughput, rowsPerSec: r.rowsPerSec, p50Ms: r.latencyMs.p50, p99Ms: r.latencyMs.p99, errors };
  } catch (err: unknown) {
    return { throughput: 0, rowsPerSec: 0, p50Ms: 0, p99Ms: 0, errors: 0, error: (err as Error).message.split('\n')[0] ?? 'failed' };
  } finally {
    if (proc.exitCode === null) {
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      // A server that does not drain in time is killed: the next trial must not share the CPUs with it.
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
