import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, resolve } from 'node:path';
import type { Engine } from '../core/engine.js';
import { ModelSlot } from '../core/model-slot.js';
import { ModelpipeError } from '../errors/index.js';
import type { TensorSpec } from '../models/model.js';
import { OnnxModel } from '../models/onnx/onnx-model.js';
import type { Logger } from '../observe/logger.js';
import { type Tensor, batchSignature } from '../tensor/index.js';
import { inferBatch } from './engine-batch.js';
import { tensorBytes } from './function-handler.js';
import type { BatchResult, BatchingHints, ModelHandler } from './handler.js';
import { localEngine, slotsFor, stderrLogger } from './local-engine.js';

/**
 * In-process ONNX handler on the serving core: the OnnxModel (sessions in worker
 * threads, see src/models/onnx/) is an entry of an `Engine` (the one given, else the
 * process's local engine), and every batch the flow forms is one `engine.infer` call
 * (see engine-batch.ts): the server's validation and codes, its scheduler and instances.
 *
 * Examples are `Record<inputName, Tensor>` or a bare Tensor for single-input models;
 * predictions are `Record<outputName, Tensor>` per example.
 *
 * Handlers of one file with the same worker settings on one engine share one entry
 * (reference counted). With `watch`, the file is polled and a changed file is loaded
 * and swapped in through the engine's model slots (core/model-slot.ts, the repository's
 * reload mechanism): the next batch uses it, in-flight batches finish on the old one,
 * which is then closed. A file that fails to load keeps the old model.
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
  /** The engine the model is served by (default: the process's local engine). */
  engine?: Engine;
  /** Where refreshes and failed refreshes are logged (default: stderr). */
  logger?: Logger;
}

interface Version {
  modelId: string;
  bytes: number;
}

/** One model file loaded into one engine, shared by its handlers. */
interface Shared {
  slot: ModelSlot<Version>;
  refs: number;
  /** Set once the last reference is gone and the entry is retiring. */
  closed: boolean;
  refreshes: number;
  timer?: NodeJS.Timeout;
  ready: Promise<void>;
}
const sharedOf = new WeakMap<Engine, Map<string, Shared>>();
/** Batch jobs have no event loop to keep responsive: inference runs at normal priority. */
const NICE = 0;

async function fingerprint(path: string): Promise<Version> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw new ModelpipeError('MP_ERR_MODEL_LOAD', `cannot read model ${path}: ${(e as Error).message}`, { cause: e });
  }
  const hash = createHash('sha256').update(buf).digest('hex').slice(0, 12);
  return { modelId: `${basename(path)}@${hash}`, bytes: buf.byteLength };
}

interface Where {
  engine: Engine;
  path: string;
  workers: number;
  threads: number | undefined;
  log: Logger;
}

/** Loads the file as it is now into a new OnnxModel, with the version it holds. */
async function loadModel(w: Where): Promise<{ model: OnnxModel; version: Version }> {
  const version = await fingerprint(w.path);
  // Several sessions share the cores: without a limit each would size its thread pool
  // to the whole machine and they would oversubscribe it.
  const intraOpThreads = w.threads ?? Math.max(1, Math.floor(availableParallelism() / w.workers));
  const model = await OnnxModel.load({ path: w.path, instances: w.workers, intraOpThreads, nice: NICE });
  return { model, version };
}

async function acquire(w: Where): Promise<Shared> {
  const name = `${w.path}|workers=${w.workers}|threads=${w.threads ?? 'auto'}`;
  let map = sharedOf.get(w.engine);
  if (!map) {
    map = new Map();
    sharedOf.set(w.engine, map);
  }
  for (;;) {
    let s = map.get(name);
    if (!s) {
      // The flow forms the batches and runs `workers` of them at once, one per worker:
      // no merging or splitting here, and a long batch job has no request timeout.
      const slot = new ModelSlot<Version>(slotsFor(w.engine, w.log), name, { batching: undefined, fanout: false, timeoutMs: 0 });
      const ready = loadModel(w).then(({ model, version }) => slot.swap(model, version));
      const created: Shared = { slot, refs: 0, closed: false, refreshes: 0, ready };
      s = created;
      map.set(name, s);
      created.ready.catch(() => {
        if (map.get(name) === created) map.delete(name);
      });
    }
    await s.ready;
    // Its last user released it while we waited: load afresh rather than use a retiring entry.
    if (s.closed) continue;
    s.refs++;
    return s;
  }
}

/** Drops one reference; the last one retires the entry (its batches finish first). */
async function release(s: Shared, engine: Engine): Promise<void> {
  if (--s.refs > 0) return;
  s.closed = true;
  if (s.timer) clearInterval(s.timer);
  const map = sharedOf.get(engine);
  if (map?.get(s.slot.name) === s) map.delete(s.slot.name);
  await s.slot.clear();
}

/** Polls the file and swaps a changed one in; at most one poll at a time. */
function watch(s: Shared, w: Where, intervalMs: number): void {
  if (s.timer) return;
  let lastMtime = 0;
  let busy = false;
  const poll = async (): Promise<void> => {
    const st = await stat(w.path).catch(() => undefined);
    if (!st || st.mtimeMs === lastMtime) return;
    lastMtime = st.mtimeMs;
    const from = s.slot.current?.tag.modelId;
    if ((await fingerprint(w.path)).modelId === from) return;
    const next = await loadModel(w);
    // Its last handler let go while the new version loaded: nothing is left to swap into.
    if (s.closed) return next.model.close();
    await s.slot.swap(next.model, next.version);
    s.refreshes++;
    w.log.info({ from, to: s.slot.current?.tag.modelId }, 'model refreshed');
  };
  const tick = (): void => {
    if (busy || s.closed) return;
    busy = true;
    poll()
      .catch((e: unknown) => w.log.warn({ path: w.path, error: (e as Error).message }, 'model refresh failed; keeping the current model'))
      .finally(() => {
        busy = false;
      });
  };
  s.timer = setInterval(tick, intervalMs);
  s.timer.unref();
  tick();
}

export interface OnnxModelHandler extends ModelHandler<Tensor | Record<string, Tensor>, Record<string, Tensor>> {
  /** Input metadata (as OnnxModel reports it, -1 for free dimensions), after load. */
  readonly inputs: readonly TensorSpec[];
  /** Model versions swapped in by the watcher so far. */
  readonly refreshes: number;
  /** The engine name the model is served under (an alias; see core/model-slot.ts). */
  readonly entry: string | undefined;
  readonly engine: Engine;
  unload(): Promise<void>;
}

export function onnxHandler(options: OnnxHandlerOptions): OnnxModelHandler {
  const workers = options.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `onnx workers must be >= 1, got ${workers}`);
  const engine = options.engine ?? localEngine();
  const path = resolve(options.model);
  const w: Where = { engine, path, workers, threads: options.intraOpNumThreads, log: options.logger ?? stderrLogger('runinference.onnx') };
  let shared: Shared | undefined;
  let loading: Promise<void> | undefined;
  const current = () => shared?.slot.current;
  const h: OnnxModelHandler = {
    engine,
    get modelId() {
      return current()?.tag.modelId ?? basename(path);
    },
    batching: options.batching ?? {},
    concurrency: workers,
    get inputs() {
      return current()?.model.metadata.inputs ?? [];
    },
    get refreshes() {
      return shared?.refreshes ?? 0;
    },
    get entry() {
      return shared?.slot.name;
    },
    load() {
      loading ??= acquire(w).then((s) => {
        shared = s;
        if (options.watch) watch(s, w, typeof options.watch === 'object' ? (options.watch.intervalMs ?? 1000) : 1000);
      });
      loading.catch(() => {
        loading = undefined;
      });
      return loading;
    },
    isLoaded: () => shared !== undefined,
    async unload() {
      const s = shared;
      shared = undefined;
      loading = undefined;
      if (s) await release(s, engine);
    },
    async runBatch(examples): Promise<BatchResult<Record<string, Tensor>>> {
      if (!shared) await h.load();
      // Read the current version and start the engine call in one synchronous step.
      const cur = current();
      if (!cur) throw new ModelpipeError('MP_ERR_MODEL_NOT_READY', `model ${path} is not loaded`);
      return { predictions: await inferBatch(engine, cur.key, examples, options.outputs), modelId: cur.tag.modelId };
    },
    signature: batchSignature,
    weight: tensorBytes,
    byteSize: () => current()?.tag.bytes ?? 0,
  };
  return h;
}
