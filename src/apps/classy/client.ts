import type { TraceContext } from '../../observe/tracing.js';
import { GraphPipeClient } from '../../client/graphpipe-client.js';
import type { MetadataResponse } from '../../protocol/graphpipe/index.js';
import type { ClientSecurity } from '../../client/security.js';
import { ModelpipeError } from '../../errors/index.js';
import { Tensor } from '../../tensor/index.js';
import { type Prediction, topK } from '../../vision/labels.js';
import { type StageResult, type Timings, callStage, downloaderConfig, entryError, preprocessorConfig } from './stage-wire.js';

/**
 * The Classy client: sends URLs to the downloader (which forwards to the
 * preprocessor) and local image bytes straight to the preprocessor, in parallel,
 * then puts the answers back in the caller's order. Images are numbered as the
 * caller gave them, whichever stage they entered at.
 */

export type ClassyInput = { readonly url: string } | { readonly bytes: Uint8Array; readonly name: string };

export interface ClassyEndpoints {
  /** Needed only when some inputs are URLs. */
  readonly downloader?: string;
  readonly preprocessor: string;
  /** The model server, for its metadata only (the playground's info panel). */
  readonly model?: string;
}

export interface ClassifyOptions {
  readonly keepGoing?: boolean;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** The trace the stage calls continue (the `classy` command's root span). */
  readonly trace?: TraceContext | undefined;
}

export type ImageOutcome =
  | { readonly index: number; readonly ok: true; readonly scores: Float32Array }
  | { readonly index: number; readonly ok: false; readonly error: ModelpipeError };

export interface ClassifyResult {
  readonly images: ImageOutcome[];
  /** Server-side milliseconds per stage (the slower group's, when URLs and files ran side by side). */
  readonly timings: Timings;
}

/**
 * Messages from a stage name the index in that stage's request ("url 0 (…)",
 * "image 2: …"). When a request carried only some of the caller's inputs, the
 * number is rewritten to the caller's index so the message never points elsewhere.
 */
export function renumber(err: ModelpipeError, global: readonly number[]): ModelpipeError {
  const message = err.message.replace(/\b(url|image) (\d+)\b/, (all, word: string, n: string) => {
    const g = global[Number(n)];
    return g === undefined ? all : `${word} ${g}`;
  });
  return message === err.message ? err : new ModelpipeError(err.code, message, { cause: err, ...(err.url ? { url: err.url } : {}) });
}

interface Group {
  readonly indices: number[];
  readonly call: () => Promise<StageResult>;
}

/**
 * A Classy client for one stack: a GraphPipeClient per stage it calls, owned until
 * close(). `classifyImages` is the one-call form.
 */
export class ClassyClient {
  readonly preprocessor: GraphPipeClient;
  readonly downloader: GraphPipeClient | undefined;
  readonly model: GraphPipeClient | undefined;

  constructor(
    readonly endpoints: ClassyEndpoints,
    options: { readonly security?: ClientSecurity; readonly timeoutMs?: number } = {},
  ) {
    const client = (url: string | undefined) => (url === undefined ? undefined : new GraphPipeClient(url, options));
    this.preprocessor = new GraphPipeClient(endpoints.preprocessor, options);
    this.downloader = client(endpoints.downloader);
    this.model = client(endpoints.model);
  }

  async classify(inputs: readonly ClassyInput[], opts: ClassifyOptions = {}): Promise<ClassifyResult> {
    const keepGoing = opts.keepGoing === true;
    const callOpts = {
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
      trace: opts.trace,
    };
    const urls: number[] = [];
    const files: number[] = [];
    for (const [i, x] of inputs.entries()) ('url' in x ? urls : files).push(i);
    const groups: Group[] = [];
    if (urls.length > 0) {
      const downloader = this.downloader;
      if (downloader === undefined) throw new ModelpipeError('MP_ERR_BAD_CONFIG', 'URLs given but no downloader to fetch them');
      const t = Tensor.fromStrings(urls.map((i) => (inputs[i] as { url: string }).url));
      groups.push({
        indices: urls,
        call: () => callStage(downloader, t, downloaderConfig(this.endpoints.preprocessor, keepGoing), callOpts),
      });
    }
    if (files.length > 0) {
      const t = Tensor.fromStrings(files.map((i) => (inputs[i] as { bytes: Uint8Array }).bytes));
      groups.push({ indices: files, call: () => callStage(this.preprocessor, t, preprocessorConfig(keepGoing), callOpts) });
    }
    const answers = await Promise.all(
      groups.map((g) =>
        g.call().catch((err: unknown) => {
          throw renumber(err as ModelpipeError, g.indices);
        }),
      ),
    );
    const images = new Array<ImageOutcome>(inputs.length);
    const timings: Timings = {};
    answers.forEach((a, gi) => {
      const g = groups[gi] as Group;
      const good = a.errors.filter((e) => e === '').length;
      const per = good === 0 ? 0 : a.output.size / good;
      if (good > 0 && (a.output.dtype !== 'float32' || !Number.isInteger(per) || a.output.shape[0] !== good))
        throw new ModelpipeError(
          'MP_ERR_BAD_RESPONSE',
          `expected ${good} float32 rows, got ${a.output.dtype} [${a.output.shape.join(',')}]`,
        );
      let row = 0;
      a.errors.forEach((e, local) => {
        const index = g.indices[local] as number;
        if (e !== '') {
          images[index] = { index, ok: false, error: renumber(entryError(e), g.indices) };
          return;
        }
        const scores = (a.output.data as Float32Array).subarray(row * per, (row + 1) * per);
        row++;
        images[index] = { index, ok: true, scores };
      });
      for (const [k, v] of Object.entries(a.timings)) timings[k] = Math.max(timings[k] ?? 0, v);
    });
    return { images, timings };
  }

  /** The model server's GraphPipe metadata (needs the `model` endpoint). */
  async modelMetadata(opts: { timeoutMs?: number } = {}): Promise<MetadataResponse> {
    if (this.model === undefined) throw new ModelpipeError('MP_ERR_BAD_CONFIG', 'no model endpoint to ask for metadata');
    return this.model.metadata(opts);
  }

  async close(): Promise<void> {
    await Promise.all([this.preprocessor.close(), this.downloader?.close(), this.model?.close()]);
  }
}

/** Classifies once, on a client closed before this returns. */
export async function classifyImages(
  inputs: readonly ClassyInput[],
  ends: ClassyEndpoints,
  opts: ClassifyOptions = {},
): Promise<ClassifyResult> {
  const client = new ClassyClient(ends);
  try {
    return await client.classify(inputs, opts);
  } finally {
    await client.close();
  }
}

/** Top-k of one successful image. */
export function predictions(outcome: ImageOutcome, k: number, labels?: readonly string[]): Prediction[] {
  if (!outcome.ok) throw outcome.error;
  return topK(outcome.scores, k, labels);
}
