import { type FileHandle, open } from 'node:fs/promises';
import { ModelpipeError } from '../errors/index.js';
import { toJSON } from './json.js';
import { csvLine } from './csv.js';
import type { PredictionResult } from './handler.js';
import type { Sink } from './sink.js';

export { jsonReplacer, toJSON } from './json.js';

/**
 * A row from a (keyed) PredictionResult: key, model_id, inference. The inference stays a
 * value: JSON sinks write it as JSON, SQL and CSV sinks store objects and tensors as JSON
 * text and numbers as numbers. The example itself is left out by default
 * (it may be an image); pass `withExample` to keep it.
 */
export function resultToRow(r: PredictionResult<unknown, unknown> | [unknown, PredictionResult<unknown, unknown>], withExample = false) {
  const [key, pr] = Array.isArray(r) ? r : [undefined, r];
  const row: Record<string, unknown> = {
    key: key === undefined ? null : typeof key === 'string' ? key : toJSON(key),
    model_id: pr.modelId,
    inference: pr.inference,
  };
  if (withExample) row.example = toJSON(pr.example);
  return row;
}

async function openOut(path: string, append: boolean): Promise<FileHandle> {
  try {
    return await open(path, append ? 'a' : 'w');
  } catch (e) {
    throw new ModelpipeError('MP_ERR_SINK', `cannot open ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** A text file sink: each write appends its lines in one call and (by default) fsyncs. */
function textFileSink<T>(
  path: string,
  format: (items: readonly T[], first: boolean) => string,
  o: { append?: boolean; fsync?: boolean },
): Sink<T> {
  let fh: Promise<FileHandle> | undefined;
  let first = true;
  return {
    async write(items) {
      if (items.length === 0) return;
      if (!fh) {
        fh = openOut(path, o.append ?? false);
        // Appending (several workers share the file): only the first writer of an empty file writes a header.
        if (o.append) first = (await (await fh).stat()).size === 0;
      }
      const h = await fh;
      try {
        await h.write(format(items, first));
        first = false;
        if (o.fsync ?? true) await h.datasync();
      } catch (e) {
        throw new ModelpipeError('MP_ERR_SINK', `cannot write ${path}: ${(e as Error).message}`, { cause: e });
      }
    },
    async close() {
      if (fh) await (await fh).close();
      else if (!(o.append ?? false)) await (await openOut(path, false)).close(); // empty output still creates the file
    },
  };
}

/** JSON Lines file sink (tensors as nested arrays). */
export function jsonlSink<T>(path: string, options: { append?: boolean; fsync?: boolean } = {}): Sink<T> {
  return textFileSink<T>(path, (items) => items.map((x) => `${toJSON(x)}\n`).join(''), options);
}

/** CSV file sink for records; columns default to the first record's keys. */
export function csvSink<T extends Record<string, unknown>>(
  path: string,
  options: { columns?: readonly string[]; delimiter?: string; header?: boolean; append?: boolean; fsync?: boolean } = {},
): Sink<T> {
  let cols = options.columns;
  const d = options.delimiter ?? ',';
  return textFileSink<T>(
    path,
    (items, first) => {
      cols ??= Object.keys(items[0] as T);
      const c = cols;
      const head = first && (options.header ?? true) ? csvLine(c, d) : '';
      return (
        head +
        items
          .map((x) =>
            csvLine(
              c.map((k) => x[k]),
              d,
            ),
          )
          .join('')
      );
    },
    options,
  );
}

/** Standard output as JSON lines (or a custom formatter), respecting stdout's backpressure. */
export function stdoutSink<T>(format: (x: T) => string = (x) => toJSON(x)): Sink<T> {
  return {
    async write(items) {
      const text = items.map((x) => `${format(x)}\n`).join('');
      if (!process.stdout.write(text)) await new Promise<void>((r) => process.stdout.once('drain', () => r()));
    },
    async close() {},
  };
}
