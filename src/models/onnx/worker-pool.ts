import { Worker } from 'node:worker_threads';
import { ModelpipeError } from '../../errors/index.js';
import { type NumericArray, Tensor, largeBuffers } from '../../tensor/index.js';
import type { FromWorker, IOSpecMsg, SessionSettings, ToWorker, WireTensor } from './protocol.js';

interface Pending {
  resolve: (t: Tensor[]) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: boolean;
  pending: Map<number, Pending>;
}

export interface PoolInfo {
  inputs: IOSpecMsg[];
  outputs: IOSpecMsg[];
  loadMs: number;
}

const WORKER_URL = new URL('./worker.js', import.meta.url);

/**
 * N worker threads, one onnxruntime session each. The scheduler never asks for more
 * concurrent runs than there are workers, so a run always finds an idle one.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closed = false;

  private constructor(readonly info: PoolInfo) {}

  static async start(settings: SessionSettings, instances: number): Promise<WorkerPool> {
    const started = await Promise.allSettled(Array.from({ length: instances }, () => startWorker(settings)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      for (const r of started) if (r.status === 'fulfilled') void r.value.worker.terminate();
      throw failed.reason;
    }
    const ok = started.map((r) => (r as PromiseFulfilledResult<{ worker: Worker; info: PoolInfo }>).value);
    const pool = new WorkerPool((ok[0] as { info: PoolInfo }).info);
    for (const { worker } of ok) {
      pool.adopt(worker);
      worker.unref();
    }
    return pool;
  }

  private adopt(worker: Worker): void {
    const slot: Slot = { worker, busy: false, pending: new Map() };
    worker.on('message', (msg: FromWorker) => {
      if (msg.kind !== 'result' && msg.kind !== 'error') return;
      const p = slot.pending.get(msg.id);
      if (!p) return;
      slot.pending.delete(msg.id);
      slot.busy = slot.pending.size > 0;
      // An idle worker must not keep the process alive (a batch job that forgot to
      // close its model would otherwise never exit); it is ref'd while it has work.
      if (!slot.busy) slot.worker.unref();
      if (msg.kind === 'result') for (const ab of msg.recycled) largeBuffers.give(ab);
      if (msg.kind === 'error') p.reject(new ModelpipeError('MP_ERR_MODEL_RUNTIME', `onnxruntime: ${msg.message}`));
      else p.resolve(msg.outputs.map(fromWire));
    });
    const die = (why: string): void => {
      for (const p of slot.pending.values()) p.reject(new ModelpipeError('MP_ERR_WORKER_DIED', `onnxruntime worker died: ${why}`));
      slot.pending.clear();
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
    };
    worker.on('error', (e) => die(e.message));
    worker.on('exit', (code) => {
      if (!this.closed) die(`exit code ${code}`);
    });
    this.slots.push(slot);
  }

  get size(): number {
    return this.slots.length;
  }

  /** Runs on an idle worker (or the least loaded one). Input buffers are transferred when allowed. */
  run(feeds: ReadonlyMap<string, Tensor>, outputNames: readonly string[], transferable: boolean): Promise<Tensor[]> {
    const slot =
      this.slots.find((s) => !s.busy) ??
      this.slots.reduce<Slot | undefined>((a, s) => (a && a.pending.size <= s.pending.size ? a : s), undefined);
    if (!slot) return Promise.reject(new ModelpipeError('MP_ERR_MODEL_NOT_READY', 'no onnxruntime worker is alive'));
    const id = this.nextId++;
    const wire: Record<string, WireTensor> = {};
    const transfer = new Set<ArrayBuffer>();
    for (const [name, t] of feeds) {
      wire[name] = { dtype: t.dtype, shape: [...t.shape], data: t.data as NumericArray | Uint8Array[] };
      if (transferable && !Array.isArray(t.data)) transfer.add((t.data as NumericArray).buffer as ArrayBuffer);
    }
    const msg: ToWorker = { kind: 'run', id, feeds: wire, outputNames: [...outputNames] };
    return new Promise<Tensor[]>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.busy = true;
      slot.worker.ref();
      slot.worker.postMessage(msg, [...transfer]);
    });
  }

  /** Lets in-flight runs finish (a model refresh retires the old pool this way), then stops the workers. */
  async close(): Promise<void> {
    this.closed = true;
    const inflight = this.slots.flatMap((s) =>
      [...s.pending.values()].map(
        (p) =>
          new Promise<void>((r) => {
            const { resolve, reject } = p;
            p.resolve = (t) => {
              resolve(t);
              r();
            };
            p.reject = (e) => {
              reject(e);
              r();
            };
          }),
      ),
    );
    await Promise.all(inflight);
    await Promise.all(
      this.slots.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.worker.ref(); // keep the loop alive until the worker has really exited
            s.worker.once('exit', () => resolve());
            s.worker.postMessage({ kind: 'close' } satisfies ToWorker);
            setTimeout(() => void s.worker.terminate(), 2000).unref();
          }),
      ),
    );
  }
}

function fromWire(w: WireTensor): Tensor {
  return new Tensor(w.dtype, w.shape, w.data);
}

function startWorker(settings: SessionSettings): Promise<{ worker: Worker; info: PoolInfo }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_URL, { workerData: settings });
    const onMsg = (msg: FromWorker): void => {
      if (msg.kind === 'ready') {
        worker.off('message', onMsg);
        resolve({ worker, info: { inputs: msg.inputs, outputs: msg.outputs, loadMs: msg.loadMs } });
      } else if (msg.kind === 'load-error') {
        void worker.terminate();
        const code = msg.device ? 'MP_ERR_DEVICE_UNAVAILABLE' : 'MP_ERR_MODEL_LOAD';
        const hint = msg.device ? ' (is the CUDA execution provider of onnxruntime-node installed? use --device cpu)' : '';
        reject(new ModelpipeError(code, `cannot load ${settings.modelPath} on ${settings.device}: ${msg.message}${hint}`));
      }
    };
    worker.on('message', onMsg);
    worker.once('error', (e) => reject(new ModelpipeError('MP_ERR_MODEL_LOAD', `onnxruntime worker failed: ${e.message}`)));
  });
}
