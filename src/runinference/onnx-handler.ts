import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, resolve } from 'node:path';
import pino from 'pino';
import { ModelpipeError } from '../errors/index.js';
import type { TensorSpec } from '../models/model.js';
import { OnnxModel } from '../models/onnx/onnx-model.js';
import { Tensor, batchSignature, stackInputs, unstackNamed } from '../tensor/index.js';
import { tensorBytes } from './function-handler.js';
import type { BatchResult, BatchingHints, ModelHandler } from './handler.js';

/**
 * In-process ONNX handler on the server's OnnxModel (sessions in worker threads, see
 * src/models/onnx/). A batch is stacked into one tensor per input with `concat` (one
 * memcpy per example), its fresh buffer is transferred to the worker, and outputs are
 * `split` back per example (views, no copy).
 *
 * Examples are `Record<inputName, Tensor>` or a bare Tensor for single-input models. Each
 * example tensor carries its own leading batch dimension (usually 1); a tensor of rank one
 * less than the model input gets a leading 1 added. Predictions are `Record<outputName,
 * Tensor>` per example.
 *
 * Models are shared per process: handlers for the same file and worker settings use one
 * OnnxModel (reference counted). With `watch`, the file is polled and a changed file is
 * loaded into a new OnnxModel that takes over for the next batch, while in-flight batches
 * finish on the old one (then it is closed). A file that fails to load keeps the old model.
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
  model: OnnxModel;
  modelId: string;
  bytes: number;
  refs: number;
  /** Set once the last reference is gone and the model is closing. */
  closed: boolean;
  entry: Promise<Loaded>;
}
const cache = new Map<string, Promise<Loaded>>();
const log = pino({ name: 'runinference.onnx' }, pino.destination({ dest: 2, sync: true }));
/** The handler never cancels a run: a batch either finishes or fails as a whole. */
const NEVER = new AbortController().signal;

async function fingerprint(path: string): Promise<{ modelId: string; bytes: number }> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw new ModelpipeError('MP_ERR_MODEL_LOAD', `cannot read model ${path}: ${(e as Error).message}`, { cause: e });
  }
  const hash = createHash('sha256').update(buf).digest('hex').slice(0, 12);
  return { modelId: `${basename(path)}@${hash}`, bytes: buf.byteLength };
}

async function acquire(path: string, workers: number, threads: number | undefined): Promise<Loaded> {
  const fp = await fingerprint(path);
  const key = `${path}|${fp.modelId}|${workers}|${threads ?? ''}`;
  for (;;) {
    let p = cache.get(key);
    if (!p) {
      // Several sessions share the cores: without a limit each would size its thread pool
      // to the whole machine and they would oversubscribe it.
      const intraOpThreads = threads ?? Math.max(1, Math.floor(availableParallelism() / workers));
      const entry: Promise<Loaded> = // Batch jobs have no event loop to keep responsive: inference runs at normal priority.
        OnnxModel.load({ path, instances: workers, intraOpThreads, nice: 0 }).then((model) => ({
          key,
          model,
          modelId: fp.modelId,
          bytes: fp.bytes,
          refs: 0,
          closed: false,
          entry,
        }));
      p = entry;
      cache.set(key, p);
      p.catch(() => {
        if (cache.get(key) === entry) cache.delete(key);
      });
    }
    const l = await p;
    // Its last user released it while we waited: load a fresh one rather than use a closing model.
    if (l.closed) continue;
    l.refs++;
    return l;
  }
}

/** Drops one reference; the last one closes the model (no batch holds it any more). */
async function release(l: Loaded): Promise<void> {
  if (--l.refs > 0) return;
  l.closed = true;
  if (cache.get(l.key) === l.entry) cache.delete(l.key);
  await l.model.close();
}

export interface OnnxModelHandler extends ModelHandler<Tensor | Record<string, Tensor>, Record<string, Tensor>> {
  /** Input metadata (as OnnxModel reports it, -1 for free dimensions), after load. */
  readonly inputs: readonly TensorSpec[];
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
        await release(next);
        return;
      }
      const old = current;
      current = next; // next batch uses the new model; batches holding `old` finish on it
      refreshes++;
      log.info({ from: old.modelId, to: next.modelId }, 'model refreshed');
      await release(old);
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
      return current?.model.metadata.inputs ?? [];
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
      const l = current;
      current = undefined;
      loading = undefined;
      if (l) await release(l);
    },
    async runBatch(examples): Promise<BatchResult<Record<string, Tensor>>> {
      if (!current) await h.load();
      const l = current as Loaded;
      l.refs++; // pin this version until the batch is done
      try {
        return { predictions: await runOn(l.model, examples, options.outputs), modelId: l.modelId };
      } finally {
        // Not awaited: when this was a retired model's last batch, its results need not wait
        // for the workers to shut down.
        release(l).catch((e: unknown) => log.warn({ path, error: (e as Error).message }, 'closing a retired model failed'));
      }
    },
    signature: batchSignature,
    weight: tensorBytes,
    byteSize: () => current?.bytes ?? 0,
  };
  return h;
}

async function runOn(
  model: OnnxModel,
  examples: readonly (Tensor | Record<string, Tensor>)[],
  keep: readonly string[] | undefined,
): Promise<Record<string, Tensor>[]> {
  const md = model.metadata;
  const outputNames = keep ?? md.defaultOutputs;
  for (const name of outputNames) {
    if (!md.outputs.some((o) => o.name === name)) throw new ModelpipeError('MP_ERR_UNKNOWN_OUTPUT', `model has no output ${name}`);
  }
  const dicts = examples.map((x, i) => normalise(x, md.inputs, i));
  // Models whose batch dimension is pinned (mnist: 1) run one example at a time.
  if (!model.batchable && dicts.length > 1) {
    const out: Record<string, Tensor>[] = [];
    for (const d of dicts) out.push(...(await stackRun(model, [d], outputNames)));
    return out;
  }
  return stackRun(model, dicts, outputNames);
}

async function stackRun(model: OnnxModel, dicts: Record<string, Tensor>[], outputNames: readonly string[]) {
  const { inputs, rows } = stackInputs(dicts);
  if (dicts.length === 1) {
    // A single example's data belongs to the caller: copy so transferring cannot detach it.
    for (const [name, t] of inputs)
      if (t.dtype !== 'string') inputs.set(name, new Tensor(t.dtype, t.shape, (t.data as Float32Array).slice()));
  }
  // Every input buffer is fresh (stacked or copied above), so the worker may take it.
  const res = await model.run({ inputs, outputNames, config: '', signal: NEVER, transferable: true });
  return unstackNamed(outputNames, res, rows);
}

function normalise(x: Tensor | Record<string, Tensor>, inputs: readonly TensorSpec[], i: number) {
  const dict: Record<string, Tensor> = x instanceof Tensor ? { [inputs[0]?.name ?? 'input']: x } : { ...x };
  for (const info of inputs) {
    const t = dict[info.name];
    if (!(t instanceof Tensor)) throw new ModelpipeError('MP_ERR_MISSING_INPUT', `example ${i} lacks input ${info.name}`);
    if (t.shape.length === info.shape.length - 1) dict[info.name] = new Tensor(t.dtype, [1, ...t.shape], t.data);
    else if (info.shape.length > 0 && t.shape.length !== info.shape.length) {
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
