import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { needShared, repoRoot, sharedPath } from '../helpers/shared.js';
import { outputOf } from '../helpers/spawn.js';

/**
 * The real GraphPipe peers (Oracle's graphpipe-go and graphpipe-py, in MODELPIPE_SHARED's
 * peers/ folder) for interoperability tests. The Go programs under test/peers/go/ are
 * built once per source version into a cache folder; a missing tool fails with one line
 * saying what to install.
 */

const run = promisify(execFile);
export const PEERS_DIR = sharedPath('peers');
const GO_SRC = join(repoRoot, 'test', 'peers', 'go');
const PY_SRC = join(repoRoot, 'test', 'peers', 'py');
const PROGRAMS = ['gpserve', 'gpclient'];

function need(ok: boolean, what: string): void {
  if (!ok) throw new Error(`peer tests need ${what}`);
}

function sourcesHash(): string {
  const h = createHash('sha256');
  for (const p of PROGRAMS) for (const f of readdirSync(join(GO_SRC, p)).sort()) h.update(readFileSync(join(GO_SRC, p, f)));
  h.update(readFileSync(join(PEERS_DIR, 'build-graphpipe-go.sh')));
  return h.digest('hex').slice(0, 16);
}

/** A skip reason when the peers' folder is absent (a failure under CI, like all shared data). */
export function needPeers(): string | false {
  return needShared('peers/build-graphpipe-go.sh', 'peers/graphpipe-py/graphpipe/remote.py');
}

let built: Promise<string> | undefined;

/** Builds graphpipe-go and the test programs (once per source version); resolves with the binaries' folder. */
export function buildGoPeers(): Promise<string> {
  built ??= (async () => {
    need(existsSync(join(PEERS_DIR, 'build-graphpipe-go.sh')), `the GraphPipe peers in ${PEERS_DIR} (set MODELPIPE_SHARED)`);
    need(existsSync('/usr/bin/go'), 'Go: apt-get install golang-go (and the packages listed in .ci/run)');
    const out = join(tmpdir(), `modelpipe-peers-${sourcesHash()}`);
    if (PROGRAMS.every((p) => existsSync(join(out, p)))) return out;
    // Build beside, then rename: test files running at once never see half a folder.
    const tmp = `${out}.${process.pid}.${Date.now()}`;
    await run(join(PEERS_DIR, 'build-graphpipe-go.sh'), [tmp, ...PROGRAMS.map((p) => join(GO_SRC, p))], {
      timeout: 300_000,
      maxBuffer: 1 << 24,
    });
    try {
      renameSync(tmp, out);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another test file built it first
    }
    return out;
  })();
  return built;
}

export interface GoServer {
  url: string;
  proc: ChildProcess;
  close(): Promise<void>;
}

async function reachable(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, host, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`graphpipe-go server on ${host}:${port} not reachable within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts one of gpserve's modes (double, plus1, two, echo) on a free loopback port. */
export async function startGoServer(mode: string): Promise<GoServer> {
  const bin = join(await buildGoPeers(), 'gpserve');
  const proc = spawn(bin, [mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const addr = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`gpserve ${mode} printed no address:\n${out}`)), 10_000);
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1] as string);
      }
    });
    proc.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    proc.once('exit', (code) => reject(new Error(`gpserve ${mode} exited with ${code}:\n${out}`)));
  }).catch((err: unknown) => {
    proc.kill('SIGKILL');
    throw err;
  });
  const [host, port] = addr.split(':') as [string, string];
  await reachable(host, Number(port), 10_000).catch((err: unknown) => {
    proc.kill('SIGKILL');
    throw err;
  });
  return {
    url: `http://${addr}`,
    proc,
    close: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await once(proc, 'exit');
    },
  };
}

/** A free loopback port (for peers that cannot listen on port 0 and tell). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** graphpipe-go's own graphpipe-batcher in front of `target`, with its default inputs and outputs. */
export async function startGraphpipeBatcher(target: string, inputs: string[], outputs: string[], batchSize = 8): Promise<GoServer> {
  const bin = join(await buildGoPeers(), 'graphpipe-batcher');
  const port = await freePort();
  const args = ['--target-url', target, '--inputs', inputs.join(','), '--outputs', outputs.join(','), '--listen', `127.0.0.1:${port}`];
  const proc = spawn(bin, [...args, '--batch-size', String(batchSize), '--timeout', '20'], { stdio: ['ignore', 'ignore', 'pipe'] });
  proc.stderr?.resume();
  const close = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGKILL');
    await once(proc, 'exit');
  };
  await reachable('127.0.0.1', port, 10_000).catch(async (err: unknown) => {
    await close();
    throw err;
  });
  return { url: `http://127.0.0.1:${port}`, proc, close };
}

/** Starts several gpserve modes at once; if one fails, the others are stopped too. */
export async function startGoServers(modes: string[]): Promise<GoServer[]> {
  const started = await Promise.allSettled(modes.map(startGoServer));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
    throw (failed as PromiseRejectedResult).reason;
  }
  return started.map((r) => (r as PromiseFulfilledResult<GoServer>).value);
}

/** A tensor as gpclient reads and writes it: wire type id, shape, base64 data or strings. */
export interface WireTensor {
  type: number;
  shape: number[];
  data?: string | null;
  strings?: string[] | null;
}

export interface GoCall {
  op: 'metadata' | 'raw' | 'native' | 'remote';
  url: string;
  config?: string;
  inputNames?: string[];
  outputNames?: string[];
  inputs?: WireTensor[];
}

export interface GoResult {
  outputs: WireTensor[] | null;
  metadata?: {
    Name: string;
    Server: string;
    Inputs: { Name: string; Shape: number[]; Type: number }[];
    Outputs: { Name: string; Shape: number[]; Type: number }[];
  };
  error?: string;
}

/** Runs calls through graphpipe-go's client (one process for the lot). */
export async function goClient(calls: GoCall[]): Promise<GoResult[]> {
  const bin = join(await buildGoPeers(), 'gpclient');
  const proc = spawn(bin, [], { stdio: ['pipe', 'pipe', 'pipe'] });
  const output = outputOf(proc);
  proc.stdin.end(JSON.stringify(calls));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
  const { code, stdout, stderr } = await output;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`gpclient exited with ${code}: ${stderr}`);
  return JSON.parse(stdout) as GoResult[];
}

/** Runs test/peers/py/<script> with Debian's python3 and graphpipe-py on the path, `input` on stdin; resolves with its JSON output. */
export async function pyClient(script: string, input: string): Promise<unknown> {
  need(existsSync('/usr/bin/python3'), 'python3: apt-get install python3-numpy python3-flatbuffers python3-requests');
  const proc = spawn('/usr/bin/python3', [join(PY_SRC, script)], {
    env: { ...process.env, PYTHONPATH: join(PEERS_DIR, 'graphpipe-py') },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const output = outputOf(proc);
  proc.stdin.end(input);
  const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
  const { code, stdout, stderr } = await output;
  clearTimeout(timer);
  const missing = /No module named '?(\w+)/.exec(stderr);
  if (missing) throw new Error(`peer tests need python3-${missing[1]}: apt-get install python3-numpy python3-flatbuffers python3-requests`);
  if (code !== 0) throw new Error(`${script} exited with ${code}: ${stderr}`);
  return JSON.parse(stdout);
}
