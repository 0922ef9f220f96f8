import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ModelpipeError } from '../errors/index.js';
import { type DType, Tensor } from '../tensor/index.js';
import type { IOInfo, WireTensor } from './onnx-worker.js';

/**
 * A fixed set of worker threads, each holding one session of the same model file.
 * A request goes to the least busy worker; a worker runs one request at a time (its
 * session uses intra-op threads already). Retiring a pool lets in-flight runs finish
 * first, which is how a refreshed model replaces the old one without failing a batch.
 */
export interface PoolOptions {
  workers: number;
  intraOpNumThreads?: number;
}

interface Slot {
  worker: Worker;
  busy: number;
  dead?: ModelpipeError;
}

const workerUrl = new URL('./onnx-worker.js', import.meta.url);

export class OnnxPool {
  readonly inputs: IOInfo[] = [];
  readonly outputs: IOInfo[] = [];
  #slots: Slot[] = [];
  #pending = new Map<number, { resolve: (o: Record<string, Tensor>) => void; reject: (e: Error) => void; slot: Slot }>();
  #nextId = 0;
  #inflight = 0;
  #retired = false;

  private constructor(readonly path: string) {}

  static async create(path: string, options: PoolOptions): Promise<OnnxPool> {
    const pool = new OnnxPool(path);
    const threads = options.intraOpNumThreads ?? Math.max(1, Math.floor(availableParallelism() / options.workers));
    try {
      await Promise.all(Array.from({ length: options.workers }, () => pool.#spawn(threads)));
    } catch (e) {
      await pool.terminate();
      throw e;
    }
    return pool;
  }

  #spawn(intraOpNumThreads: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(workerUrl, { workerData: { path: this.path, intraOpNumThreads } });
      const slot: Slot = { worker, busy: 0 };
      let ready = false;
      worker.on(
        'message',
        (msg: { type?: string; id?: number; message?: string; inputs?: IOInfo[]; outputs?: unknown; error?: string }) => {
          if (msg.type === 'ready') {
            ready = true;
            if (this.inputs.length === 0) {
              this.inputs.push(...(msg.inputs ?? []));
              this.outputs.push(...((msg.outputs as IOInfo[]) ?? []));
            }
            this.#slots.push(slot);
            // An idle pool must not keep the process alive (a forgotten unload would hang
            // exit); a worker is ref'd only while it has requests in flight.
            worker.unref();
            resolve();
            return;
          }
          if (msg.type === 'fatal') {
            reject(new ModelpipeError('MP_ERR_MODEL_LOAD', `cannot load ${this.path}: ${msg.message}`));
            return;
          }
          const p = this.#pending.get(msg.id as number);
          if (!p) return;
          this.#pending.delete(msg.id as number);
          if (--slot.busy === 0) worker.unref();
          if (msg.error !== undefined) p.reject(new ModelpipeError('MP_ERR_MODEL_RUNTIME', msg.error));
          else p.resolve(fromWire(msg.outputs as Record<string, WireTensor>));
        },
      );
      worker.on('error', (e) => {
        const err = new ModelpipeError('MP_ERR_WORKER_DIED', `onnx worker for ${this.path} died: ${e.message}`, { cause: e });
        slot.dead = err;
        if (!ready) reject(err);
        for (const [id, p] of this.#pending) {
          if (p.slot === slot) {
            this.#pending.delete(id);
            p.reject(err);
          }
        }
      });
    });
  }

  /** Runs one feed dict. `transfer` lists buffers the caller gives up (freshly stacked). */
  async run(feeds: Record<string, Tensor>, transfer: ArrayBuffer[] = []): Promise<Record<string, Tensor>> {
    const live = this.#slots.filter((s) => !s.dead);
    if (live.length === 0) throw new ModelpipeError('MP_ERR_WORKER_DIED', `no live onnx worker for ${this.path}`);
    const slot = live.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.#nextId++;
    const wire: Record<string, WireTensor> = {};
    for (const [name, t] of Object.entries(feeds)) {
      wire[name] = { type: t.dtype, dims: [...t.shape], data: t.dtype === 'string' ? t.strings() : (t.data as ArrayBufferView) };
    }
    this.#inflight++;
    if (slot.busy++ === 0) slot.worker.ref();
    try {
      return await new Promise<Record<string, Tensor>>((resolve, reject) => {
        this.#pending.set(id, { resolve, reject, slot });
        slot.worker.postMessage({ id, feeds: wire }, transfer);
      });
    } finally {
      this.#inflight--;
      if (this.#retired && this.#inflight === 0) void this.terminate();
    }
  }

  get inflight(): number {
    return this.#inflight;
  }

  /** Stops taking new work; terminates once in-flight runs are done. */
  retire(): void {
    this.#retired = true;
    if (this.#inflight === 0) void this.terminate();
  }

  async terminate(): Promise<void> {
    const slots = this.#slots;
    this.#slots = [];
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}

function fromWire(outputs: Record<string, WireTensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, w] of Object.entries(outputs)) {
    out[name] = Array.isArray(w.data) ? Tensor.fromStrings(w.data, w.dims) : new Tensor(w.type as DType, w.dims, w.data as never);
  }
  return out;
}
