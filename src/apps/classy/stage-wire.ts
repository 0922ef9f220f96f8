import type { TraceContext } from '../../observe/tracing.js';
import { RemoteError } from '../../client/errors.js';
import type { GraphPipeClient } from '../../client/graphpipe-client.js';
import { ModelpipeError, toModelpipeError } from '../../errors/index.js';
import { upstreamSafeMessage } from '../../sequencing/sequencing.js';
import { Tensor } from '../../tensor/index.js';

/**
 * The Classy stage protocol: how the downloader and the preprocessor talk to each
 * other and to their callers over plain GraphPipe.
 *
 * Every Classy stage (downloader, preprocessor) answers three outputs:
 *   - `output`  the last hop's result (the model's probabilities, or this stage's own
 *               tensor when it is the last hop), with one row per SUCCESSFUL input,
 *               in input order. When no input succeeded it is an empty float32 [0].
 *   - `errors`  string [N], one entry per input: "" when input i went through, else
 *               "CODE: message" (the message names the input's index, e.g.
 *               "MP_ERR_FETCH: url 1 (http://…/missing.png): HTTP 404").
 *   - `timings` string [1]: JSON milliseconds per stage that ran, server-side:
 *               {"download": 12.3, "preprocess": 8.1, "model": 5.2}.
 * So a client matches rows to inputs by skipping the inputs whose error is non-empty.
 *
 * Index space is preserved across hops: the downloader forwards ALL N entries to the
 * preprocessor, a failed download as an empty byte string, and the preprocessor
 * reports an empty entry as failed without decoding it. The downloader then merges
 * the two `errors` vectors (its own error wins), so no index is ever renumbered.
 *
 * Keep-going travels in the request's config, which every stage reads as JSON:
 *   downloader:   a bare next-hop URL (fail fast), or
 *                 {"next": url, "keepGoing": true, "config": "<config for next>"}
 *                 (parseNextHop-compatible; without "config" the downloader passes
 *                 {"keepGoing": …} on, so the preprocessor knows the mode too)
 *   preprocessor: "" (fail fast) or {"keepGoing": true}
 * Fail fast (the default): the first failing input fails the whole request with a
 * GraphPipe error whose code is the failure's own (MP_ERR_FETCH, MP_ERR_TIMEOUT,
 * MP_ERR_FORBIDDEN_ADDRESS, MP_ERR_IMAGE_DECODE…) and whose message names the index.
 */

export const STAGE_OUTPUTS = ['output', 'errors', 'timings'] as const;

export interface StageConfig {
  keepGoing: boolean;
  /** Downloader only: the next stage's URL. */
  next?: string;
  /** Downloader only: the config string to pass to the next stage. */
  config?: string;
}

/** Reads a stage's config string (see the header). A bare http(s) URL is a next hop in fail-fast mode. */
export function parseStageConfig(raw: string): StageConfig {
  const c = raw.trim();
  if (c === '') return { keepGoing: false };
  if (/^https?:\/\//.test(c)) return { keepGoing: false, next: c };
  let j: { next?: unknown; keepGoing?: unknown; config?: unknown };
  try {
    j = JSON.parse(c) as typeof j;
  } catch (err: unknown) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `config is neither a URL nor JSON: ${(err as Error).message}`);
  }
  if (j === null || typeof j !== 'object' || Array.isArray(j))
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', 'config JSON must be an object');
  if (j.next !== undefined && (typeof j.next !== 'string' || !/^https?:\/\//.test(j.next)))
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', 'config "next" must be an http(s) URL');
  if (j.keepGoing !== undefined && typeof j.keepGoing !== 'boolean')
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', 'config "keepGoing" must be a boolean');
  if (j.config !== undefined && typeof j.config !== 'string')
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', 'config "config" must be a string');
  return {
    keepGoing: j.keepGoing === true,
    ...(typeof j.next === 'string' ? { next: j.next } : {}),
    ...(typeof j.config === 'string' ? { config: j.config } : {}),
  };
}

/** The config a client sends the downloader so it forwards to `preprocessor`. */
export function downloaderConfig(preprocessor: string, keepGoing: boolean): string {
  return JSON.stringify({ next: preprocessor, keepGoing, config: preprocessorConfig(keepGoing) });
}

export function preprocessorConfig(keepGoing: boolean): string {
  return keepGoing ? JSON.stringify({ keepGoing: true }) : '';
}

/** "CODE: message", the form an `errors` entry takes. */
export function errorEntry(err: unknown): string {
  const e = toModelpipeError(err);
  return `${e.code}: ${e.message}`;
}

/** Parses an `errors` entry back into an error (unknown codes become MP_ERR_PIPELINE). */
export function entryError(entry: string): ModelpipeError {
  const m = /^(MP_ERR_[A-Z0-9_]+): ([\s\S]*)$/.exec(entry);
  try {
    if (m) return new ModelpipeError(m[1] as ModelpipeError['code'], m[2] as string);
  } catch {
    // a code this build does not know: fall through
  }
  return new ModelpipeError('MP_ERR_PIPELINE', entry);
}

export type Timings = Record<string, number>;

export function timingsTensor(t: Timings): Tensor {
  const rounded = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Math.round(v * 100) / 100]));
  return Tensor.fromStrings([JSON.stringify(rounded)]);
}

export function readTimings(t: Tensor | undefined): Timings {
  const s = t?.dtype === 'string' ? t.strings()[0] : undefined;
  if (s === undefined) return {};
  try {
    return JSON.parse(s) as Timings;
  } catch {
    return {};
  }
}

/** What a stage answers, decoded. */
export interface StageResult {
  output: Tensor;
  errors: string[];
  timings: Timings;
}

export const EMPTY_OUTPUT = (): Tensor => new Tensor('float32', [0], new Float32Array(0));

export function stageTensors(r: StageResult): Record<(typeof STAGE_OUTPUTS)[number], Tensor> {
  return { output: r.output, errors: Tensor.fromStrings(r.errors), timings: timingsTensor(r.timings) };
}

/**
 * Calls a Classy stage on its client. A failure keeps the remote error's own code (so
 * a decode error stays MP_ERR_IMAGE_DECODE two hops up) and names the stage that answered.
 */
export async function callStage(
  stage: GraphPipeClient,
  input: Tensor,
  config: string,
  opts: { signal?: AbortSignal; timeoutMs?: number; conceal?: boolean; trace?: TraceContext | undefined } = {},
): Promise<StageResult> {
  let out: Tensor[];
  try {
    out = await stage.inferManyRaw([input], {
      outputNames: [...STAGE_OUTPUTS],
      config,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      trace: opts.trace,
    });
  } catch (err: unknown) {
    throw stageError(err, opts.conceal === true);
  }
  const [output, errors, timings] = out;
  if (output === undefined || errors?.dtype !== 'string' || errors.size !== input.size)
    throw new ModelpipeError(
      'MP_ERR_BAD_RESPONSE',
      `${stage.url}: not a Classy stage answer (expected outputs ${STAGE_OUTPUTS.join(', ')})`,
    );
  return { output, errors: errors.strings(), timings: readTimings(timings) };
}

/**
 * Passes a remote error on with its own code. The "<url>: " prefix the client adds
 * is dropped when the error came from the stage itself (its message already names
 * the index); transport failures keep it, since there the URL is the news.
 * `conceal` (a stage calling the next for a remote caller): an answer that was not
 * GraphPipe is described by its status, never quoted (see upstreamSafeMessage).
 */
export function stageError(err: unknown, conceal = false): ModelpipeError {
  if (!(err instanceof RemoteError)) return toModelpipeError(err);
  const own = err.remoteCode !== undefined && err.url !== undefined && err.message.startsWith(`${err.url}: `);
  const message = own ? err.message.slice((err.url as string).length + 2) : conceal ? upstreamSafeMessage(err) : err.message;
  return new ModelpipeError(err.code, message, { cause: err, ...(err.url ? { url: err.url } : {}) });
}
