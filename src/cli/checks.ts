import { isDiscoveryUrl } from '../client/endpoints/schemes.js';
import { splitEndpointList } from '../client/endpoints/static-discovery.js';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ModelpipeError, isModelpipeError } from '../errors/index.js';

/**
 * Command-line mistakes as one-line errors with a code, checked before any work
 * starts, and the one place that turns a stray system error (a port in use, a
 * missing file) into such a line instead of a stack trace.
 */

/** A file a flag names must exist (and be a file). */
export function needFile(path: string, flag: string): void {
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${flag} ${path}: no such file`);
  }
  if (!isFile) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${flag} ${path}: not a file`);
}

/** A directory a flag names must exist. */
export function needDir(path: string, flag: string): void {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${flag} ${path}: no such directory`);
  }
  if (!isDir) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${flag} ${path}: not a directory`);
}

/** The folder an output file will be written into must exist. */
export function needParentDir(path: string, flag: string): void {
  const dir = dirname(resolve(path));
  if (!existsSync(dir)) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${flag} ${path}: directory ${dirname(path)} does not exist`);
}

/** A JSON file a flag names, read and parsed, with either failure as one line. */
export function readJsonFile(path: string, flag: string): unknown {
  needFile(path, flag);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (err: unknown) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${flag} ${path}: not valid JSON (${(err as Error).message})`);
  }
}

/**
 * A server URL must say its scheme: "127.0.0.1:9000" parses as scheme "127.0.0.1".
 * A comma-separated list: each of its URLs; a discovery URL is its source's to check.
 */
export function needHttpUrl(target: string): void {
  if (isDiscoveryUrl(target)) return;
  for (const url of splitEndpointList(target)) {
    if (/^https?:\/\//i.test(url)) continue;
    const hint = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? 'use http:// or https://' : `did you mean http://${url}?`;
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `URL ${url} has no http:// or https:// scheme (${hint})`);
  }
}

type SystemError = Error & { code?: string; syscall?: string; address?: string; port?: number; path?: string };

/**
 * The error main prints: ours as they are; a system error from a mistake on the
 * command line (port in use, missing file) as one of ours; anything else, a bug,
 * undefined (printed with its stack).
 */
export function cliError(err: unknown): ModelpipeError | undefined {
  if (isModelpipeError(err)) return err;
  const e = err as SystemError;
  if (e === null || typeof e !== 'object' || typeof e.code !== 'string') return undefined;
  const where = e.address !== undefined ? `${e.address}${e.port !== undefined ? `:${e.port}` : ''}` : undefined;
  switch (e.code) {
    case 'EADDRINUSE':
      return new ModelpipeError(
        'MP_ERR_ADDRESS_IN_USE',
        `cannot listen on ${where ?? 'the address'}: address already in use (another server runs there; choose another port)`,
      );
    case 'EADDRNOTAVAIL':
      return new ModelpipeError('MP_ERR_BAD_CONFIG', `cannot listen on ${where ?? 'the address'}: not an address of this host`);
    case 'EACCES':
      if (e.syscall === 'listen' || e.syscall === 'bind')
        return new ModelpipeError(
          'MP_ERR_BAD_CONFIG',
          `cannot listen on ${where ?? 'the address'}: permission denied (ports below 1024 need privileges)`,
        );
      return e.path !== undefined ? new ModelpipeError('MP_ERR_BAD_CONFIG', `${e.path}: permission denied`) : undefined;
    case 'ENOENT':
    case 'ENOTDIR':
      return e.path !== undefined ? new ModelpipeError('MP_ERR_BAD_CONFIG', `${e.path}: no such file or directory`) : undefined;
    case 'EISDIR':
      return e.path !== undefined ? new ModelpipeError('MP_ERR_BAD_CONFIG', `${e.path}: is a directory, not a file`) : undefined;
    default:
      return undefined;
  }
}
