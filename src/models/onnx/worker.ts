/**
 * Worker thread hosting one onnxruntime session. session.run() blocks its thread for
 * the whole inference, so it must never run on the main thread: the event loop
 * there keeps decoding, validating and answering health checks meanwhile.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { type DType, type NumericArray, POOL_MIN_BYTES } from '../../tensor/index.js';
import { ModelpipeError } from '../../errors/index.js';
import type { FromWorker, IOSpecMsg, SessionSettings, ToWorker, WireTensor } from './worker-messages.js';

const port = parentPort;
if (port === null) throw new ModelpipeError('MP_ERR_INTERNAL', 'onnx worker must run in a worker thread');
const settings = workerData as SessionSettings;
const enc = new TextEncoder();
const dec = new TextDecoder();

function send(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(msg, transfer);
}

function spec(meta: readonly ort.InferenceSession.ValueMetadata[], names: readonly string[]): IOSpecMsg[] {
  return names.map((name) => {
    const m = meta.find((x) => x.name === name);
    if (m === undefined || !m.isTensor) return { name, dtype: 'null' as DType, shape: [] };
    const shape = m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
    return { name, dtype: m.type as DType, shape };
  });
}

function toOrt(t: WireTensor): ort.Tensor {
  if (t.dtype === 'string')
    return new ort.Tensor(
      'string',
      (t.data as Uint8Array[]).map((b) => dec.decode(b)),
      t.shape,
    );
  return new ort.Tensor(t.dtype as ort.Tensor.Type, t.data as ort.Tensor.DataTypeMap[ort.Tensor.Type], t.shape);
}

function fromOrt(t: ort.Tensor, transfer: ArrayBuffer[]): WireTensor {
  const shape = t.dims.map(Number);
  if (t.type === 'string') return { dtype: 'string', shape, data: (t.data as string[]).map((s) => enc.encode(s)) };
  let data = t.data as NumericArray;
  // Transfer needs a buffer of our own; copy if the output is a view into a larger one.
  if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = data.slice() as NumericArray;
  transfer.push(data.buffer as ArrayBuffer);
  return { dtype: t.type as DType, shape, data };
}

/**
 * The large input buffers of a finished run, handed back so the main thread can
 * reuse them for the next request body (see BufferPool): the session no longer
 * reads them, and after the transfer nothing on this thread can either.
 */
function recyclable(feeds: Record<string, WireTensor>, outputBuffers: readonly ArrayBuffer[]): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const t of Object.values(feeds)) {
    if (Array.isArray(t.data)) continue;
    const ab = (t.data as NumericArray).buffer;
    if (ab instanceof ArrayBuffer && ab.byteLength >= POOL_MIN_BYTES && !outputBuffers.includes(ab)) out.add(ab);
  }
  return [...out];
}

/**
 * Lowers this thread's CPU priority before the session exists, so onnxruntime's
 * thread pool (created by the session, inheriting the nice value) yields to the
 * main thread: health checks and I/O stay fast while a model saturates the cores.
 * Linux only (a thread's id comes from /proc/thread-self); elsewhere a no-op.
 */
function lowerPriority(nice: number): void {
  if (nice === 0) return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, nice);
  } catch {
    // not Linux, or not permitted: run at normal priority
  }
}

async function main(): Promise<void> {
  lowerPriority(settings.nice ?? 0);
  const t0 = performance.now();
  let session: ort.InferenceSession;
  try {
    const opts: ort.InferenceSession.SessionOptions = {
      executionProviders: settings.device === 'cuda' ? ['cuda'] : ['cpu'],
      graphOptimizationLevel: 'all',
    };
    // onnxruntime's intra-op threads spin while waiting for work by default, burning
    // the cores the event loop needs to answer health checks and decode requests.
    if (settings.spinning === false) opts.extra = { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } };
    if (settings.intraOpThreads !== undefined) opts.intraOpNumThreads = settings.intraOpThreads;
    if (settings.interOpThreads !== undefined) opts.interOpNumThreads = settings.interOpThreads;
    if (settings.freeDimensionOverrides !== undefined) opts.freeDimensionOverrides = settings.freeDimensionOverrides;
    session = await ort.InferenceSession.create(settings.modelPath, opts);
  } catch (err: unknown) {
    const message = err instanceof Error ? err.message : String(err);
    send({ kind: 'load-error', message, device: settings.device === 'cuda' });
    return;
  }
  send({
    kind: 'ready',
    inputs: spec(session.inputMetadata, session.inputNames),
    outputs: spec(session.outputMetadata, session.outputNames),
    loadMs: performance.now() - t0,
  });
  port?.on('message', (msg: ToWorker) => {
    if (msg.kind === 'close') {
      void session.release().finally(() => port.close());
      return;
    }
    void (async () => {
      try {
        const feeds: Record<string, ort.Tensor> = {};
        for (const [k, v] of Object.entries(msg.feeds)) feeds[k] = toOrt(v);
        const out = await session.run(feeds, msg.outputNames);
        const transfer: ArrayBuffer[] = [];
        const outputs = msg.outputNames.map((n) => fromOrt(out[n] as ort.Tensor, transfer));
        const recycled = recyclable(msg.feeds, transfer);
        send({ kind: 'result', id: msg.id, outputs, recycled }, [...transfer, ...recycled]);
      } catch (err: unknown) {
        send({ kind: 'error', id: msg.id, message: err instanceof Error ? err.message : String(err) });
      }
    })();
  });
}

void main();
