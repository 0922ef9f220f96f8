import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, extname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Agent, interceptors, request } from 'undici';
import { ModelpipeError } from '../errors/index.js';

export interface SourceOptions {
  /** Where downloaded models are kept (default ~/.cache/modelpipe/models or MODELPIPE_DOWNLOAD_DIR). */
  cacheDir?: string;
  /** Expected SHA-256 (hex) of the file; checked on download and on reuse. */
  sha256?: string;
  /** Progress callback; the CLI draws a bar with it. */
  onProgress?: (received: number, total: number | undefined) => void;
  signal?: AbortSignal;
}

export function defaultCacheDir(): string {
  return process.env.MODELPIPE_DOWNLOAD_DIR ?? join(homedir(), '.cache', 'modelpipe', 'models');
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

/**
 * Turns a model location into a local file path. Local paths are returned as they are;
 * http(s) URLs are downloaded once into the cache (to a temporary name, checked,
 * then renamed atomically, so a crash never leaves a half file under the real name)
 * and reused on later starts.
 */
export async function resolveModelSource(location: string, opts: SourceOptions = {}): Promise<string> {
  if (!/^https?:\/\//i.test(location)) {
    if (!existsSync(location)) throw new ModelpipeError('MP_ERR_MODEL_LOAD', `model file not found: ${location}`);
    if (opts.sha256) await verify(location, opts.sha256);
    return location;
  }
  const dir = opts.cacheDir ?? defaultCacheDir();
  await mkdir(dir, { recursive: true });
  const key = createHash('sha256').update(location).digest('hex').slice(0, 16);
  const name = basename(new URL(location).pathname) || 'model.onnx';
  const target = join(dir, `${key}-${name}`);
  if (existsSync(target)) {
    if (opts.sha256) await verify(target, opts.sha256);
    return target;
  }
  await removeStalePartials(dir, `${key}-${name}`);
  const tmp = `${target}.${process.pid}.partial`;
  const dispatcher = new Agent().compose(interceptors.redirect({ maxRedirections: 5 }));
  try {
    const res = await request(location, { dispatcher, signal: opts.signal ?? null });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new ModelpipeError('MP_ERR_DOWNLOAD', `downloading ${location}: HTTP ${res.statusCode}`);
    }
    const len = Number(res.headers['content-length']);
    const total = Number.isFinite(len) && len > 0 ? len : undefined;
    const received = await writeBody(res.body, tmp, location, (n) => opts.onProgress?.(n, total));
    if (total !== undefined && received !== total) {
      throw new ModelpipeError('MP_ERR_DOWNLOAD', `downloading ${location}: got ${received} of ${total} bytes`);
    }
    if (opts.sha256) await verify(tmp, opts.sha256);
    await rename(tmp, target);
    return target;
  } catch (err: unknown) {
    await rm(tmp, { force: true });
    if (err instanceof ModelpipeError) throw err;
    throw new ModelpipeError('MP_ERR_DOWNLOAD', `downloading ${location}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  } finally {
    await dispatcher.close().catch(() => {});
  }
}

/**
 * Writes a response body to `path` as it arrives, in flowing mode with synchronous
 * writes, so the body never applies backpressure to undici's parser.
 *
 * Why: when a consumer lets the body's buffer fill (an async iterator feeding a
 * slower file stream did), undici pauses its HTTP parser; if the server then
 * closes the connection right after the last byte, as Python's http.server does,
 * undici's socket 'end' handler calls Parser.finish() on the paused parser and
 * trips `assert(!this.paused)` — an uncaught exception that killed the process
 * about 1 download in 7. Synchronous writes keep the buffer empty: each chunk
 * is on disk (in the page cache) before the next is read.
 */
function writeBody(body: Readable, path: string, location: string, onChunk: (received: number) => void): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let fd: number | undefined = openSync(path, 'w');
    let received = 0;
    const done = (err?: unknown): void => {
      if (fd === undefined) return;
      const f = fd;
      fd = undefined;
      try {
        closeSync(f);
      } catch (e) {
        err ??= e;
      }
      if (err !== undefined) reject(err);
      else resolve(received);
    };
    body.on('data', (chunk: Buffer) => {
      if (fd === undefined) return;
      try {
        writeSync(fd, chunk);
      } catch (err) {
        body.destroy();
        done(err);
        return;
      }
      received += chunk.length;
      onChunk(received);
    });
    body.once('end', () => done());
    body.once('error', (err) => done(err));
    body.once('close', () =>
      done(new ModelpipeError('MP_ERR_DOWNLOAD', `downloading ${location}: connection closed before the body ended`)),
    );
  });
}

/**
 * Removes `<name>.<pid>.partial` files left by a process that is gone (killed
 * mid-download), so no half file outlives a failure. A live process's file stays.
 */
async function removeStalePartials(dir: string, name: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    if (!e.startsWith(`${name}.`) || !e.endsWith('.partial')) continue;
    const pid = Number(e.slice(name.length + 1, -'.partial'.length));
    if (Number.isInteger(pid) && pid !== process.pid && processAlive(pid)) continue;
    await rm(join(dir, e), { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The model name a location stands for: the file's stem, for a URL its last path
 * segment's ("…/squeezenet1.1.onnx?v=2" → "squeezenet1.1"), never the cache file's
 * hash-prefixed name.
 */
/**
 * A local directory holding exactly one `*.onnx` file directly inside (how KServe's
 * storage initializer lays out /mnt/models) stands for that file; any other location
 * is returned as it is. None or several is a mistake the operator must fix, so it is
 * refused with one line rather than guessed at.
 */
export function modelFileOf(location: string): string {
  if (/^https?:\/\//i.test(location) || !existsSync(location) || !statSync(location).isDirectory()) return location;
  const found = readdirSync(location, { withFileTypes: true })
    .filter((e) => e.name.toLowerCase().endsWith('.onnx') && !e.isDirectory())
    .map((e) => e.name)
    .sort();
  if (found.length === 1) return join(location, found[0] as string);
  const what = found.length === 0 ? 'no *.onnx file' : `${found.length} *.onnx files (${found.join(', ')})`;
  throw new ModelpipeError('MP_ERR_MODEL_LOAD', `model directory ${location} holds ${what}; it must hold exactly one, directly inside`);
}

export function modelNameOf(location: string): string {
  const file = /^https?:\/\//i.test(location) ? urlFileName(location) : basename(location);
  return basename(file, extname(file));
}

function urlFileName(location: string): string {
  return basename(decodeURIComponentSafe(new URL(location).pathname)) || 'model.onnx';
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

async function verify(path: string, expected: string): Promise<void> {
  const got = await sha256File(path);
  if (got !== expected.toLowerCase()) {
    throw new ModelpipeError('MP_ERR_CHECKSUM', `SHA-256 of ${path} is ${got}, expected ${expected.toLowerCase()}`);
  }
}

/** A terminal progress bar on stderr (plain periodic lines when not a TTY). */
export function progressPrinter(label: string): (received: number, total: number | undefined) => void {
  let last = 0;
  return (received, total) => {
    const now = Date.now();
    const done = total !== undefined && received >= total;
    if (!done && now - last < (process.stderr.isTTY ? 100 : 2000)) return;
    last = now;
    const mb = (n: number): string => (n / 1048576).toFixed(1);
    if (total === undefined) {
      process.stderr.write(`${label}: ${mb(received)} MiB${process.stderr.isTTY ? '\r' : '\n'}`);
      return;
    }
    const frac = received / total;
    const bar = process.stderr.isTTY ? `[${'#'.repeat(Math.round(frac * 30)).padEnd(30, '.')}] ` : '';
    process.stderr.write(
      `${label}: ${bar}${(frac * 100).toFixed(0)}% ${mb(received)}/${mb(total)} MiB${process.stderr.isTTY && !done ? '\r' : '\n'}`,
    );
  };
}
