import { Worker } from 'node:worker_threads';
import { traceAttribute } from '../../observe/run-context.js';
import { ModelpipeError } from '../../errors/index.js';
import { type NumericArray, Tensor, largeBuffers } from '../../tensor/index.js';
import type { FromWorker, IOSpecMsg, SessionSettings, ToWorker, WireTensor } from './worker-messages.js';

interface Pending {
  resolve: (t: Tensor[]) => void;
  reject: (e: Error) => void;
  /** Who asked (the scheduler's run), so that run can be abandoned. */
  key: object | undefined;
}

interface Slot {
  worker: Worker;
  busy: boolean;
  pending: Map<number, Pending>;
  /** Why the worker is being terminated (it left the pool), for the runs still on it. */
  retired: string | undefined;
}

export interface PoolInfo {
  inputs: IOSpecMsg[];
  outputs: IOSpecMsg[];
  loadMs: number;
}

const WORKER_URL = new URL('./worker.js', import.meta.url);

/**
 * N worker threads, one onnxruntime session each. The scheduler never asks for more
 * concurrent runs than there are workers, so a run always finds an idle one. A run
 * the scheduler abandons (it outlived its timeout) takes its worker with it: the
 * worker leaves the pool at once, closes once that run returns, and a fresh one is
 * started.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Workers replaced after an abandoned run. */
  replaced = 0;
  /** Replacement workers starting (a run that finds no worker waits for one). */
  private readonly spawning = new Set<Promise<void>>();

  private constructor(
    readonly info: PoolInfo,
    private readonly settings: SessionSettings,
  ) {}

  static async start(settings: SessionSettings, instances: number): Promise<WorkerPool> {
    const started = await Promise.allSettled(Array.from({ length: instances }, () => startWorker(settings)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      for (const r of started) if (r.status === 'fulfilled') void r.value.worker.terminate();
      throw failed.reason;
    }
    const ok = started.map((r) => (r as PromiseFulfilledResult<{ worker: Worker; info: PoolInfo }>).value);
    const pool = new WorkerPool((ok[0] as { info: PoolInfo }).info, settings);
    for (const { worker } of ok) {
      pool.adopt(worker);
      worker.unref();
    }
    return pool;
  }

  private adopt(worker: Worker): void {
    const slot: Slot = { worker, busy: false, pending: new Map(), retired: undefined };
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
      const msg = slot.retired ?? `onnxruntime worker died: ${why}`;
      for (const p of slot.pending.values()) p.reject(new ModelpipeError('MP_ERR_WORKER_DIED', msg));
      slot.pending.clear();
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
    };
    worker.on('error', (e) => die(e.message));
    worker.on('exit', (code) => {
      if (!this.closed || slot.retired) die(`exit code ${code}`);
    });
    this.slots.push(slot);
  }

  get size(): number {
    return this.slots.length;
  }

  /** Runs on an idle worker (or the least loaded one). Input buffers are transferred when allowed. */
  run(feeds: ReadonlyMap<string, Tensor>, outputNames: readonly string[], transferable: boolean, key?: object): Promise<Tensor[]> {
    const slot =
      this.slots.find((s) => !s.busy) ??
      this.slots.reduce<Slot | undefined>((a, s) => (a && a.pending.size <= s.pending.size ? a : s), undefined);
    if (!slot) {
      if (this.spawning.size > 0) return Promise.race(this.spawning).then(() => this.run(feeds, outputNames, transferable, key));
      return Promise.reject(new ModelpipeError('MP_ERR_MODEL_NOT_READY', 'no onnxruntime worker is alive'));
    }
    const id = this.nextId++;
    traceAttribute('modelpipe.instance', slot.worker.threadId);
    const wire: Record<string, WireTensor> = {};
    const transfer = new Set<ArrayBuffer>();
    for (const [name, t] of feeds) {
      wire[name] = { dtype: t.dtype, shape: [...t.shape], data: t.data as NumericArray | Uint8Array[] };
      if (transferable && !Array.isArray(t.data)) transfer.add((t.data as NumericArray).buffer as ArrayBuffer);
    }
    const msg: ToWorker = { kind: 'run', id, feeds: wire, outputNames: [...outputNames] };
    return new Promise<Tensor[]>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject, key });
      slot.busy = true;
      slot.worker.ref();
      slot.worker.postMessage(msg, [...transfer]);
    });
  }

  /**
   * Gives up on the run started with `key`: its worker leaves the pool (no new run
   * lands on it) and a new worker with the same settings takes its place. The old one
   * is told to close, which it does once onnxruntime returns from the run it is in;
   * that run's answer goes to a caller that has already given up. Why not
   * `terminate()`: ending a thread while it is inside `session.run()` can abort the
   * whole process (onnxruntime-node throws a native exception during the teardown).
   */
  abandon(key: object): void {
    const slot = this.slots.find((s) => [...s.pending.values()].some((p) => p.key === key));
    if (slot === undefined || this.closed) return;
    slot.retired = 'onnxruntime worker replaced: a run on it outlived its timeout';
    this.slots.splice(this.slots.indexOf(slot), 1);
    slot.worker.postMessage({ kind: 'close' } satisfies ToWorker);
    this.replaced++;
    const spawn = startWorker(this.settings).then(
      ({ worker }) => {
        if (this.closed) void worker.terminate();
        else {
          this.adopt(worker);
          worker.unref();
        }
      },
      () => undefined, // the pool serves with one worker fewer; the load error was already seen at start
    );
    this.spawning.add(spawn);
    void spawn.then(() => this.spawning.delete(spawn));
  }

  /** Lets in-flight runs finish (a model refresh retires the old pool this way), then stops the workers. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.stop();
    return this.closing;
  }

  private async stop(): Promise<void> {
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
