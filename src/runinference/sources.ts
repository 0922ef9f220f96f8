import { createReadStream } from 'node:fs';
import { opendir, readFile, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { ModelpipeError } from '../errors/index.js';
import { BadRecord, parseRecord } from './bad-record.js';
import { CsvParser } from './csv.js';

/**
 * File-based and stream sources. Every source is an async generator that reads lazily
 * (files one at a time, text in 64 KiB chunks), so a pipeline pulls only what it can
 * process: backpressure reaches the disk.
 */

/** Translates a glob (`*`, `**`, `?`, `{a,b}`, `[abc]`) into a regex over /-separated paths. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  let inGroup = false;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const slash = glob[i + 2] === '/';
        re += slash ? '(?:.*/)?' : '.*';
        i += slash ? 2 : 1;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '{') {
      re += '(?:';
      inGroup = true;
    } else if (c === '}' && inGroup) {
      re += ')';
      inGroup = false;
    } else if (c === ',' && inGroup) re += '|';
    else if (c === '[') {
      const end = glob.indexOf(']', i);
      if (end < 0) throw new ModelpipeError('MP_ERR_PIPELINE_DEF', `glob ${glob}: unclosed [`);
      re += `[${glob
        .slice(i + 1, end)
        .replace(/^!/, '^')
        .replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += c.replace(/[.+^$()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Paths matching a glob, sorted, walking only below the glob's literal prefix. */
export async function globFiles(pattern: string): Promise<string[]> {
  const abs = resolve(pattern).split(sep).join('/');
  const parts = abs.split('/');
  const firstMagic = parts.findIndex((p) => /[*?{[]/.test(p));
  if (firstMagic < 0) {
    const st = await stat(abs).catch(() => undefined);
    if (!st) throw new ModelpipeError('MP_ERR_SOURCE', `no file matches ${pattern}`);
    if (st.isDirectory()) return globFiles(`${abs}/**/*`);
    return [abs];
  }
  const root = parts.slice(0, firstMagic).join('/') || '/';
  const re = globToRegExp(parts.slice(firstMagic).join('/'));
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let d: Awaited<ReturnType<typeof opendir>>;
    try {
      d = await opendir(dir);
    } catch (e) {
      throw new ModelpipeError('MP_ERR_SOURCE', `cannot list ${dir}: ${(e as Error).message}`, { cause: e });
    }
    for await (const ent of d) {
      const p = join(dir, ent.name);
      if (ent.isDirectory()) await walk(p);
      else if (ent.isFile() && re.test(relative(root, p).split(sep).join('/'))) out.push(p);
    }
  };
  await walk(root);
  return out.sort();
}

export interface FileItem<D> {
  path: string;
  data: D;
}

/** Files by glob, read one by one as they are pulled: binary (Uint8Array) or text. */
export function files(pattern: string, options: { mode: 'text' }): AsyncGenerator<FileItem<string>>;
export function files(pattern: string, options?: { mode?: 'binary' }): AsyncGenerator<FileItem<Uint8Array>>;
export async function* files(pattern: string, options: { mode?: 'binary' | 'text' } = {}): AsyncGenerator<FileItem<Uint8Array | string>> {
  for (const path of await globFiles(pattern)) {
    const buf = await readFile(path);
    yield { path, data: options.mode === 'text' ? buf.toString('utf8') : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) };
  }
}

/** Lines of a readable stream (stdin, sockets, files), without their line breaks. */
export async function* lines(stream: Readable | AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  let rest = '';
  const dec = new TextDecoder();
  for await (const chunk of stream) {
    rest += typeof chunk === 'string' ? chunk : dec.decode(chunk, { stream: true });
    let nl = rest.indexOf('\n');
    while (nl >= 0) {
      yield rest.slice(0, nl).replace(/\r$/, '');
      rest = rest.slice(nl + 1);
      nl = rest.indexOf('\n');
    }
  }
  rest += dec.decode();
  if (rest !== '') yield rest.replace(/\r$/, '');
}

/** Lines of standard input, as they arrive (a streaming source). */
export function stdinLines(): AsyncGenerator<string> {
  return lines(process.stdin);
}

function open(path: string): Readable {
  return createReadStream(path, { highWaterMark: 64 * 1024 });
}

/** What a source does with a record it cannot parse: fail the run, or pass a BadRecord on. */
export interface BadRecordOption {
  /** Default 'throw'; pipeline definitions use 'yield' (the record becomes a dead letter). */
  badRecords?: 'throw' | 'yield';
}

function bad(o: BadRecordOption, r: BadRecord): BadRecord {
  if ((o.badRecords ?? 'throw') === 'throw') throw r.error;
  return r;
}

/** JSON Lines: one JSON value per non-empty line; a bad line fails (or is a BadRecord) with its line number. */
export function jsonl<T = unknown>(path: string, options?: { badRecords?: 'throw' }): AsyncGenerator<T>;
export function jsonl<T = unknown>(path: string, options: BadRecordOption): AsyncGenerator<T | BadRecord>;
export async function* jsonl<T = unknown>(path: string, options: BadRecordOption = {}): AsyncGenerator<T | BadRecord> {
  let n = 0;
  for await (const line of lines(openChecked(path))) {
    n++;
    if (line.trim() === '') continue;
    const v = parseRecord(line, `${path}:${n}`);
    yield v instanceof BadRecord ? bad(options, v) : (v as T);
  }
}

export interface CsvSourceOptions extends BadRecordOption {
  delimiter?: string;
  /** First row names the columns (default true): rows become objects; else string arrays. */
  header?: boolean;
}

/** CSV rows (RFC 4180 quoting), as objects keyed by the header row by default. */
export function csv(
  path: string,
  options?: CsvSourceOptions & { header?: true; badRecords?: 'throw' },
): AsyncGenerator<Record<string, string>>;
export function csv(path: string, options: CsvSourceOptions & { header: false; badRecords?: 'throw' }): AsyncGenerator<string[]>;
export function csv(path: string, options: CsvSourceOptions): AsyncGenerator<Record<string, string> | string[] | BadRecord>;
export async function* csv(path: string, options: CsvSourceOptions = {}): AsyncGenerator<Record<string, string> | string[] | BadRecord> {
  const parser = new CsvParser(options.delimiter ?? ',');
  const useHeader = options.header ?? true;
  let header: string[] | undefined;
  let rowNo = 0;
  const emit = function* (rows: string[][]): Generator<Record<string, string> | string[] | BadRecord> {
    for (const r of rows) {
      rowNo++;
      if (r.length === 1 && r[0] === '') continue; // blank line
      if (!useHeader) yield r;
      else if (!header) header = r;
      else {
        if (r.length !== header.length) {
          const msg = `${path}: row ${rowNo} has ${r.length} fields, header has ${header.length}`;
          yield bad(options, new BadRecord(`${path}:row ${rowNo}`, new ModelpipeError('MP_ERR_SOURCE', msg)));
          continue;
        }
        const o: Record<string, string> = {};
        header.forEach((h, i) => {
          o[h] = r[i] as string;
        });
        yield o;
      }
    }
  };
  const dec = new TextDecoder();
  for await (const chunk of openChecked(path)) yield* emit(parser.push(dec.decode(chunk as Buffer, { stream: true })));
  yield* emit(parser.push(dec.decode()));
  yield* emit(parser.end());
}

function openChecked(path: string): Readable {
  const s = open(path);
  // Turn ENOENT & co. into our error (the stream emits them on first read).
  s.on('error', () => {});
  return wrapErrors(s, path);
}

function wrapErrors(s: Readable, path: string): Readable {
  const orig = s[Symbol.asyncIterator].bind(s);
  (s as unknown as { [Symbol.asyncIterator]: () => AsyncIterator<unknown> })[Symbol.asyncIterator] = () => {
    const it = orig();
    return {
      next: () =>
        it.next().catch((e: unknown) => {
          throw new ModelpipeError('MP_ERR_SOURCE', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
        }),
      return: (v?: unknown) => it.return?.(v) ?? Promise.resolve({ done: true, value: undefined }),
    } as AsyncIterator<unknown>;
  };
  return s;
}
