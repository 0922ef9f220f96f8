/**
 * wrk (C, one thread; Debian's `wrk` package) as a load generator for the benchmarks
 * that need the load to cost the machine as little as possible: a POST of one body
 * file, its figures read from wrk's report, and wrk's own CPU time per request.
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

export interface WrkResult {
  rps: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  /** wrk's CPU time per request, µs. */
  cpuUs: number;
}

/** Writes a wrk Lua script that POSTs the file `body` with `headers` (and an octet-stream content type). */
export function wrkPostScript(path: string, body: string, headers: Readonly<Record<string, string>> = {}): string {
  const lines = [`local f = assert(io.open(${JSON.stringify(body)}, "rb"))`, 'wrk.method = "POST"', 'wrk.body = f:read("*a")', 'f:close()'];
  for (const [k, v] of Object.entries({ 'Content-Type': 'application/octet-stream', ...headers }))
    lines.push(`wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/** wrk's "50%   1.23ms" lines, in milliseconds. */
function latency(out: string, pct: string): number {
  const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

/** Runs `wrk -t1 -c<connections> -d<seconds>s --latency -s <script> <url>`; throws on errors or non-2xx answers. */
/** bash running wrk, then printing its own /proc stat: bash's children's times are wrk's CPU time once wrk is waited for. */
function wrkCommand(url: string, script: string, connections: number, seconds: number): string[] {
  return [
    '-c',
    'wrk "$@"; s=$?; echo "CPUSTAT $(cat /proc/$$/stat)" >&2; exit $s',
    'bash',
    '-t1',
    `-c${connections}`,
    `-d${seconds}s`,
    '--latency',
    '-s',
    script,
    url,
  ];
}

function wrkResult(status: number | null, stdout: string, stderr: string): WrkResult {
  if (status === 127) throw new Error('wrk not found (install it: apt-get install -y wrk)');
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  if (status !== 0 || !rps) throw new Error(`wrk failed (${status}): ${stdout}${stderr}`);
  if (/Non-2xx|Socket errors/.test(stdout)) throw new Error(`wrk saw errors: ${stdout}`);
  const stat = /CPUSTAT .*\) (.*)$/m.exec(stderr)?.[1]?.split(' ') ?? [];
  const cpuSecs = (Number(stat[13]) + Number(stat[14])) / 100; // USER_HZ
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1]);
  return {
    rps: Number(rps[1]),
    requests,
    p50Ms: latency(stdout, '50'),
    p99Ms: latency(stdout, '99'),
    cpuUs: (cpuSecs * 1e6) / requests,
  };
}

/** One wrk load of `seconds` (the calling process waits). */
export function runWrk(url: string, script: string, connections: number, seconds: number): WrkResult {
  const r = spawnSync('bash', wrkCommand(url, script, connections, seconds), { encoding: 'utf8' });
  return wrkResult(r.status, r.stdout, r.stderr);
}

/** The same, without blocking: several loads can run at once. */
export function runWrkAsync(url: string, script: string, connections: number, seconds: number): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const p = spawn('bash', wrkCommand(url, script, connections, seconds));
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.once('error', reject);
    p.once('close', (code) => {
      try {
        resolve(wrkResult(code, out, err));
      } catch (e) {
        reject(e);
      }
    });
  });
}
