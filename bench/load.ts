import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Pool } from 'undici';

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** Median model compute time the server reported (Server-Timing `compute;dur=`), when it did. */
  computeMs?: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/**
 * Several runs of one load as one result: totals for requests and time, the
 * median of the p50s and the worst p99. Benchmarks interleave short rounds of
 * the variants they compare, so drift on a shared machine hits all of them alike.
 */
export function combine(runs: readonly LoadResult[]): LoadResult {
  const requests = runs.reduce((n, r) => n + r.requests, 0);
  const seconds = runs.reduce((n, r) => n + r.seconds, 0);
  const p50s = runs.map((r) => r.p50).sort((a, b) => a - b);
  return {
    requests,
    seconds,
    rps: requests / seconds,
    p50: percentile(p50s, 50),
    p99: Math.max(...runs.map((r) => r.p99)),
    errors: runs.reduce((n, r) => n + r.errors, 0),
  };
}

/** One request's outcome, as a closed loop counts it. */
export interface Outcome {
  ok: boolean;
  /** The model compute time the server reported, when it did. */
  computeMs?: number | undefined;
}

/**
 * The one closed loop every load here uses: `concurrency` callers run `call` back
 * to back for `seconds`. A call that throws stops the run (a broken benchmark).
 */
export async function closedLoop(call: () => Promise<Outcome>, concurrency: number, seconds: number): Promise<LoadResult> {
  const lat: number[] = [];
  const compute: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        const o = await call();
        lat.push(performance.now() - s);
        if (!o.ok) errors++;
        if (o.computeMs !== undefined) compute.push(o.computeMs);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  compute.sort((a, b) => a - b);
  return {
    requests: lat.length,
    seconds: secs,
    rps: lat.length / secs,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    errors,
    ...(compute.length > 0 ? { computeMs: percentile(compute, 50) } : {}),
  };
}

/** Closed-loop HTTP load: `concurrency` clients each POST `body` back to back for `seconds`. */
export async function load(
  url: string,
  path: string,
  body: Uint8Array,
  concurrency: number,
  seconds: number,
  headers: Record<string, string> = {},
): Promise<LoadResult> {
  const pool = new Pool(url, { connections: concurrency, pipelining: 1 });
  try {
    return await closedLoop(
      async () => {
        const r = await pool.request({ method: 'POST', path, body, headers: { 'content-type': 'application/octet-stream', ...headers } });
        await r.body.arrayBuffer();
        const timing = /compute;dur=([\d.]+)/.exec(String(r.headers['server-timing'] ?? ''));
        return { ok: r.statusCode === 200, computeMs: timing ? Number(timing[1]) : undefined };
      },
      concurrency,
      seconds,
    );
  } finally {
    await pool.close();
  }
}

/** Starts a node script that prints its URL; returns the URL and the process. */
export async function startServer(
  args: string[],
  env?: NodeJS.ProcessEnv,
  urlPattern = /http:\/\/127\.0\.0\.1:\d+/,
): Promise<{ url: string; proc: ChildProcess }> {
  // Servers print their URL on stdout (bench scripts) or in their stderr log (the CLI).
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = urlPattern.exec(out);
      if (m) resolve(m[0]);
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('exit', (c) => reject(new Error(`${args.join(' ')} exited ${c}: ${out}`)));
  });
  return { url, proc };
}

/** Stops a server gracefully (so a CLI launcher stops its server process too), killing it after 5 s. */
export async function stopServer(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

/** Runs a script to completion and parses the last JSON line it prints. */
export async function runJSON<T>(args: string[]): Promise<T> {
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  await once(proc, 'exit');
  return JSON.parse(out.trim().split('\n').at(-1) as string) as T;
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toFixed(2)) : c)))];
  const w = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i]).length)));
  return cells
    .map(
      (r, k) =>
        r.map((c, i) => String(c).padEnd(w[i] as number)).join('  ') + (k === 0 ? `\n${w.map((n) => '-'.repeat(n)).join('  ')}` : ''),
    )
    .join('\n');
}
