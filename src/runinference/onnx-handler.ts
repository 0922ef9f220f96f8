import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import pino from 'pino';
import { ModelpipeError } from '../errors/index.js';
import { Tensor, concat, split } from '../tensor/index.js';
import { tensorBytes, tensorSignature } from './function-handler.js';
import type { BatchResult, BatchingHints, ModelHandler } from './handler.js';
import { OnnxPool } from './onnx-pool.js';

/**
 * In-process ONNX handler. Sessions run in worker threads (OnnxPool); a batch is stacked
 * into one tensor per input with `concat` (one memcpy per example), its fresh buffer is
 * transferred to the worker, and outputs are `split` back per example (views, no copy).
 *
 * Examples are `Record<inputName, Tensor>` or a bare Tensor for single-input models. Each
 * example tensor carries its own leading batch dimension (usually 1); a tensor of rank one
 * less than the model input gets a leading 1 added. Predictions are `Record<outputName,
 * Tensor>` per example.
 *
 * Models are shared per process: handlers for the same file and worker settings use one
 * pool (reference counted). With `watch`, the file is polled and a changed file is loaded
 * into a new pool that takes over for the next batch, while in-flight batches finish on
 * the old one (then it is terminated). A file that fails to load keeps the old model.
 */
export interface OnnxHandlerOptions {
  model: string;
  /** Worker threads, each with one session. Default 1. */
  workers?: number;
  intraOpNumThreads?: number;
  batching?: BatchingHints;
  /** Watch the model file and hot-swap it when it changes. */
  watch?: boolean | { intervalMs?: number };
  /** Output names to keep (default all). */
  outputs?: readonly string[];
}

interface Loaded {
  key: string;
  pool: OnnxPool;
  modelId: string;
  bytes: number;
  refs: number;
}
const cache = new Map<string, Promise<Loaded>>();
const log = pino({ name: 'runinference.onnx' }, pino.destination({ dest: 2, sync: true }));

async function fingerprint(path: string): Promise<{ modelId: string; bytes: number; mtimeMs: number }> {
  let buf: Buffer;
  let st: { mtimeMs: number; size: number };
  try {
    st = await stat(path);
    buf = await readFile(path);
  } catch (e) {
    throw new ModelpipeError('MP_ERR_MODEL_LOAD', `cannot read model ${path}: ${(e as Error).message}`, { cause: e });
  }
  const hash = createHash('sha256').update(buf).digest('hex').slice(0, 12);
  return { modelId: `${basename(path)}@${hash}`, bytes: st.size, mtimeMs: st.mtimeMs };
}

async function acquire(path: string, workers: number, threads: number | undefined): Promise<Loaded> {
  const fp = await fingerprint(path);
  const key = `${path}|${fp.modelId}|${workers}|${threads ?? ''}`;
  let p = cache.get(key);
  if (!p) {
    const opts = threads === undefined ? { workers } : { workers, intraOpNumThreads: threads };
    p = OnnxPool.create(path, opts).then((pool) => ({ key, pool, modelId: fp.modelId, bytes: fp.bytes, refs: 0 }));
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  const l = await p;
  l.refs++;
  return l;
}

function release(l: Loaded): void {
  l.refs--;
  if (l.refs <= 0) {
    cache.delete(l.key);
    l.pool.retire();
  }
}

export interface OnnxModelHandler extends ModelHandler<Tensor | Record<string, Tensor>, Record<string, Tensor>> {
  /** Input and output metadata, after load. */
  readonly inputs: readonly { name: string; shape?: (number | string)[] }[];
  /** Model versions swapped in by the watcher so far. */
  readonly refreshes: number;
  unload(): Promise<void>;
}

export function onnxHandler(options: OnnxHandlerOptions): OnnxModelHandler {
  const path = resolve(options.model);
  const workers = options.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `onnx workers must be >= 1, got ${workers}`);
  let current: Loaded | undefined;
  let loading: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let lastMtime = 0;
  let refreshes = 0;
  let swapping = false;

  const poll = async (): Promise<void> => {
    if (swapping || !current) return;
    swapping = true;
    try {
      const st = await stat(path).catch(() => undefined);
      if (!st || st.mtimeMs === lastMtime) return;
      lastMtime = st.mtimeMs;
      const next = await acquire(path, workers, options.intraOpNumThreads);
      if (!current || next.modelId === current.modelId) {
        release(next);
        return;
      }
      const old = current;
      current = next; // next batch uses the new model; batches holding `old` finish on it
      refreshes++;
      release(old);
      log.info({ from: old.modelId, to: next.modelId }, 'model refreshed');
    } catch (e) {
      log.warn({ path, error: (e as Error).message }, 'model refresh failed; keeping the current model');
    } finally {
      swapping = false;
    }
  };

  const h: OnnxModelHandler = {
    get modelId() {
      return current?.modelId ?? basename(path);
    },
    batching: options.batching ?? {},
    concurrency: workers,
    get inputs() {
      return current?.pool.inputs ?? [];
    },
    get refreshes() {
      return refreshes;
    },
    load() {
      loading ??= (async () => {
        current = await acquire(path, workers, options.intraOpNumThreads);
        lastMtime = (await stat(path)).mtimeMs;
        if (options.watch) {
          const ms = typeof options.watch === 'object' ? (options.watch.intervalMs ?? 1000) : 1000;
          timer = setInterval(() => void poll(), ms);
          timer.unref();
        }
      })();
      loading.catch(() => {
        loading = undefined;
      });
      return loading;
    },
    isLoaded: () => current !== undefined,
    async unload() {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (current) release(current);
      current = undefined;
      loading = undefined;
    },
    async runBatch(examples): Promise<BatchResult<Record<string, Tensor>>> {
      if (!current) await h.load();
      const l = current as Loaded;
      l.refs++; // pin this version until the batch is done
      try {
        return { predictions: await runOn(l.pool, examples, options.outputs), modelId: l.modelId };
      } finally {
        release(l);
      }
    },
    signature: tensorSignature,
    weight: tensorBytes,
    byteSize: () => current?.bytes ?? 0,
  };
  return h;
}

async function runOn(
  pool: OnnxPool,
  examples: readonly (Tensor | Record<string, Tensor>)[],
  keep: readonly string[] | undefined,
): Promise<Record<string, Tensor>[]> {
  const inputs = pool.inputs;
  const dicts = examples.map((x, i) => normalise(x, inputs, i));
  const rows = dicts.map((d) => (Object.values(d)[0] as Tensor).shape[0] ?? 1);
  const fixed = inputs[0]?.shape?.[0];
  // Models whose batch dimension is pinned (mnist: 1) run one example at a time.
  if (typeof fixed === 'number' && rows.some((r) => r !== fixed || dicts.length > 1)) {
    const out: Record<string, Tensor>[] = [];
    for (const d of dicts) out.push(...(await stackRun(pool, [d], keep)));
    return out;
  }
  return stackRun(pool, dicts, keep);
}

async function stackRun(pool: OnnxPool, dicts: Record<string, Tensor>[], keep: readonly string[] | undefined) {
  const feeds: Record<string, Tensor> = {};
  const transfer: ArrayBuffer[] = [];
  const first = dicts[0] as Record<string, Tensor>;
  for (const name of Object.keys(first)) {
    const parts = dicts.map((d) => d[name] as Tensor);
    let t = concat(parts);
    if (parts.length === 1 && t.dtype !== 'string') {
      // A single example's data belongs to the caller: copy so transferring cannot detach it.
      t = new Tensor(t.dtype, t.shape, (t.data as Float32Array).slice());
    }
    feeds[name] = t;
    if (t.dtype !== 'string') transfer.push((t.data as Float32Array).buffer as ArrayBuffer);
  }
  const rows = dicts.map((d) => (Object.values(d)[0] as Tensor).shape[0] ?? 1);
  const res = await pool.run(feeds, transfer);
  const names = keep ?? Object.keys(res);
  const out: Record<string, Tensor>[] = dicts.map(() => ({}));
  for (const name of names) {
    const t = res[name];
    if (!t) throw new ModelpipeError('MP_ERR_UNKNOWN_OUTPUT', `model has no output ${name}`);
    if ((t.shape[0] ?? -1) !== rows.reduce((a, b) => a + b, 0)) {
      throw new ModelpipeError('MP_ERR_MODEL_OUTPUT', `output ${name} has ${t.shape[0]} rows for a batch of ${rows.join('+')}`);
    }
    split(t, rows).forEach((part, i) => {
      (out[i] as Record<string, Tensor>)[name] = part;
    });
  }
  return out;
}

function normalise(x: Tensor | Record<string, Tensor>, inputs: readonly { name: string; shape?: (number | string)[] }[], i: number) {
  const dict: Record<string, Tensor> = x instanceof Tensor ? { [inputs[0]?.name ?? 'input']: x } : { ...x };
  for (const info of inputs) {
    const t = dict[info.name];
    if (!(t instanceof Tensor)) throw new ModelpipeError('MP_ERR_MISSING_INPUT', `example ${i} lacks input ${info.name}`);
    if (info.shape && t.shape.length === info.shape.length - 1) dict[info.name] = new Tensor(t.dtype, [1, ...t.shape], t.data);
    else if (info.shape && info.shape.length > 0 && t.shape.length !== info.shape.length) {
      throw new ModelpipeError(
        'MP_ERR_INPUT_RANK',
        `example ${i}: input ${info.name} has rank ${t.shape.length}, model wants ${info.shape.length}`,
      );
    }
  }
  for (const k of Object.keys(dict)) {
    if (!inputs.some((n) => n.name === k)) throw new ModelpipeError('MP_ERR_UNKNOWN_INPUT', `example ${i}: model has no input ${k}`);
  }
  return dict;
}
