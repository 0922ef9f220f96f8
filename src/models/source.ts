import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
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
  const tmp = `${target}.${process.pid}.partial`;
  try {
    const res = await request(location, {
      dispatcher: new Agent().compose(interceptors.redirect({ maxRedirections: 5 })),
      signal: opts.signal ?? null,
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new ModelpipeError('MP_ERR_DOWNLOAD', `downloading ${location}: HTTP ${res.statusCode}`);
    }
    const len = Number(res.headers['content-length']);
    const total = Number.isFinite(len) && len > 0 ? len : undefined;
    let received = 0;
    const counted = Readable.from(
      (async function* () {
        for await (const chunk of res.body) {
          received += (chunk as Buffer).length;
          opts.onProgress?.(received, total);
          yield chunk as Buffer;
        }
      })(),
    );
    await pipeline(counted, createWriteStream(tmp));
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
