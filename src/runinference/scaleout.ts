import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ModelpipeError } from '../errors/index.js';

/**
 * Starts N worker processes that each run the same pipeline file; with a Redis Streams
 * source they share the stream through its consumer group (each process is a consumer
 * named host-pid). `wait()` resolves with each worker's exit and final JSON line.
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

export const WORKER_SCRIPT = fileURLToPath(new URL('./worker-main.js', import.meta.url));

export function startWorkers(n: number, pipelinePath: string, options: { env?: NodeJS.ProcessEnv; silent?: boolean } = {}): WorkerGroup {
  if (!Number.isInteger(n) || n < 1) throw new ModelpipeError('MP_ERR_PIPELINE_DEF', `startWorkers: n must be an integer >= 1, got ${n}`);
  const workers: ChildProcess[] = [];
  const exits: Promise<WorkerExit>[] = [];
  for (let i = 0; i < n; i++) {
    const child = fork(WORKER_SCRIPT, [pipelinePath], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', options.silent ? 'ignore' : 'inherit', 'ipc'],
    });
    workers.push(child);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    exits.push(
      new Promise((resolve) => {
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
      }),
    );
  }
  return {
    workers,
    wait: () => Promise.all(exits),
    kill(signal = 'SIGTERM') {
      for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill(signal);
    },
  };
}
