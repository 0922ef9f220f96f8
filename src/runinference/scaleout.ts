import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ModelpipeError } from '../errors/index.js';

/**
 * Starts worker processes that each run the same pipeline file; with a Redis Streams
 * source they share the stream through its consumer group (each process is a consumer
 * named host-pid). Workers get MODELPIPE_WORKER=1: their file sinks append instead of
 * truncating. `supervise` (supervisor.ts) restarts workers that die.
 */
export interface WorkerExit {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The worker's last JSON line on stdout (counts, or an error), if any. */
  result?: unknown;
}

export interface WorkerGroup {
  readonly workers: ChildProcess[];
  wait(): Promise<WorkerExit[]>;
  /** Sends a signal to every live worker. */
  kill(signal?: NodeJS.Signals): void;
}

export interface WorkerOptions {
  env?: NodeJS.ProcessEnv;
  silent?: boolean;
}

/**
 * A worker's exit status when its pipeline definition or configuration is wrong
 * (sysexits' EX_CONFIG): every restart would fail the same way, so the supervisor
 * does not restart it.
 */
export const EXIT_BAD_DEFINITION = 78;

export const WORKER_SCRIPT = fileURLToPath(new URL('./worker-main.js', import.meta.url));

/** One worker process and the promise of its exit. */
export function startWorker(pipelinePath: string, options: WorkerOptions = {}): { child: ChildProcess; exit: Promise<WorkerExit> } {
  const child = fork(WORKER_SCRIPT, [pipelinePath], {
    env: { ...process.env, ...options.env, MODELPIPE_WORKER: '1' },
    stdio: ['ignore', 'pipe', options.silent ? 'ignore' : 'inherit', 'ipc'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-64 * 1024); // only the last line matters
  });
  const exit = new Promise<WorkerExit>((resolve) => {
    child.on('exit', (code, signal) => {
      const last = out.trim().split('\n').pop();
      let result: unknown;
      try {
        result = last ? JSON.parse(last) : undefined;
      } catch {
        result = last;
      }
      resolve({ pid: child.pid ?? -1, code, signal, ...(result === undefined ? {} : { result }) });
    });
  });
  return { child, exit };
}

export function startWorkers(n: number, pipelinePath: string, options: WorkerOptions = {}): WorkerGroup {
  if (!Number.isInteger(n) || n < 1) throw new ModelpipeError('MP_ERR_PIPELINE_DEF', `startWorkers: n must be an integer >= 1, got ${n}`);
  const started = Array.from({ length: n }, () => startWorker(pipelinePath, options));
  const workers = started.map((s) => s.child);
  return {
    workers,
    wait: () => Promise.all(started.map((s) => s.exit)),
    kill(signal = 'SIGTERM') {
      for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill(signal);
    },
  };
}
