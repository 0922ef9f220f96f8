import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sampleSum } from './prom.js';
import { repoRoot } from './shared.js';
import { CLI, freePort } from './spawn.js';

/** A [batch, 4] float32 Identity (x → y): requests cost the serving path, hardly a model. */
export const IDENTITY_MODEL = join(repoRoot, 'test', 'fixtures', 'replicas', 'identity.onnx');

/** The counter each replica's /metrics answers; one name here so a rename is one line. */
const REQUESTS_METRIC = 'modelpipe_requests_total';

/** One `modelpipe serve` process of a replica set. */
export interface Replica {
  readonly index: number;
  readonly port: number;
  readonly url: string;
  /**
   * The pid of the process that serves, not the launcher: the CLI re-executes itself
   * with a heap flag (cli/relaunch.ts), and a kill -9 of the launcher would let the
   * server drain gracefully instead of dying.
   */
  pid: number;
  /** The process this harness spawned (the launcher, or the server itself). */
  proc: ChildProcess;
  output(): string;
}

export interface ReplicaOptions {
  /** The model file (default: the identity fixture). */
  model?: string;
  /** More `serve` flags for every replica. */
  args?: string[];
  /** How long a replica may take to print its URL (ms). */
  startMs?: number;
}

/** Starts `modelpipe serve` on `port` and resolves once it logs that it serves, with its serving pid. */
async function startReplica(index: number, port: number, o: ReplicaOptions): Promise<Replica> {
  const args = [CLI, 'serve', o.model ?? IDENTITY_MODEL, '--listen', `127.0.0.1:${port}`, ...(o.args ?? [])];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const pid = await new Promise<number>((resolve, reject) => {
    const ms = o.startMs ?? 30_000;
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`replica ${index} did not start within ${ms} ms:\n${out}`));
    }, ms);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (/"msg":"serving /.test(out)) {
        clearTimeout(t);
        resolve(servingPid(proc.pid as number));
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`replica ${index} exited with ${code}:\n${out}`));
    });
  });
  return { index, port, url: `http://127.0.0.1:${port}`, pid, proc, output: () => out };
}

/**
 * The serving process under a launched `modelpipe serve`: its relaunched child when
 * there is one (Linux's /proc lists a process's children), else the process itself.
 */
function servingPid(launched: number): number {
  const children = readFileSync(`/proc/${launched}/task/${launched}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  for (const c of children) if (readFileSync(`/proc/${c}/cmdline`, 'utf8').includes('main.js\0serve')) return Number(c);
  return launched;
}

/**
 * N `modelpipe serve` processes on free loopback ports, for tests and benchmarks:
 * kill one (-9 or SIGTERM, hitting the serving process), restart it on the same
 * port, read each one's request count from its /metrics.
 */
export class Replicas {
  private constructor(
    readonly replicas: Replica[],
    private readonly options: ReplicaOptions,
  ) {}

  static async start(n: number, options: ReplicaOptions = {}): Promise<Replicas> {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) ports.push(await freePort());
    const started = await Promise.allSettled(ports.map((p, i) => startReplica(i, p, options)));
    const ok = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) {
      await Promise.all(ok.map((r) => exitOf(r, 'SIGKILL')));
      throw failed.reason;
    }
    return new Replicas(ok, options);
  }

  get urls(): string[] {
    return this.replicas.map((r) => r.url);
  }

  /** The endpoint list a client takes: "a,b,c". */
  get list(): string {
    return this.urls.join(',');
  }

  at(i: number): Replica {
    const r = this.replicas[i];
    if (!r) throw new Error(`no replica ${i}`);
    return r;
  }

  /** Sends `signal` to replica i's serving process and resolves once it (and its launcher) exited. */
  async kill(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await exitOf(this.at(i), signal);
  }

  /** Starts replica i again on the same port (after kill). */
  async restart(i: number): Promise<Replica> {
    const old = this.at(i);
    if (old.proc.exitCode === null && old.proc.signalCode === null) throw new Error(`replica ${i} is still running`);
    const r = await startReplica(i, old.port, this.options);
    this.replicas[i] = r;
    return r;
  }

  /** Successful inferences replica i's process has counted (since it started). */
  async requests(i: number): Promise<number> {
    const text = await (await fetch(`${this.at(i).url}/metrics`)).text();
    return sampleSum(text, REQUESTS_METRIC, /outcome="ok"/);
  }

  /** `requests` of every replica. */
  async counts(): Promise<number[]> {
    return Promise.all(this.replicas.map((_, i) => this.requests(i)));
  }

  /** Stops every replica still running (SIGTERM, then SIGKILL after 10 s). */
  async close(): Promise<void> {
    await Promise.all(this.replicas.map((r) => exitOf(r, 'SIGTERM', 10_000)));
  }
}

/** Signals a replica's serving process, then waits for the spawned process to exit (SIGKILL past `ms`). */
async function exitOf(r: Replica, signal: NodeJS.Signals, ms = 30_000): Promise<void> {
  if (r.proc.exitCode !== null || r.proc.signalCode !== null) return;
  const exited = once(r.proc, 'exit');
  try {
    process.kill(r.pid, signal);
  } catch {
    // Already gone: the launcher exits on its own.
  }
  const t = setTimeout(() => {
    for (const pid of [r.pid, r.proc.pid]) {
      try {
        if (pid !== undefined) process.kill(pid, 'SIGKILL');
      } catch {}
    }
  }, ms);
  await exited;
  clearTimeout(t);
}

/** Requests each replica served between two `counts()` readings. */
export function served(before: readonly number[], after: readonly number[]): number[] {
  return after.map((n, i) => n - (before[i] ?? 0));
}

/** Whether every share is within ±`tolerance` of an even split (the issue's ±25 %). */
export function evenWithin(shares: readonly number[], tolerance = 0.25): boolean {
  const even = shares.reduce((a, b) => a + b, 0) / shares.length;
  return shares.every((n) => Math.abs(n - even) <= tolerance * even);
}
