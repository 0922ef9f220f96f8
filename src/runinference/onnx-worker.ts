/**
 * Body of one ONNX worker thread: one InferenceSession per worker, because
 * onnxruntime-node's session.run() blocks the thread it runs on; in a worker it blocks
 * only that worker and the pipeline's event loop keeps reading and batching.
 *
 * Protocol (structured clone; numeric buffers are transferred, not copied):
 *   worker → parent  { type: 'ready', inputs: IOInfo[], outputs: IOInfo[] } | { type: 'fatal', message }
 *   parent → worker  { id, feeds: Record<name, WireTensor> }
 *   worker → parent  { id, outputs: Record<name, WireTensor> } | { id, error }
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

export interface WireTensor {
  type: string;
  dims: number[];
  data: ArrayBufferView | string[];
}
export interface IOInfo {
  name: string;
  type?: string;
  shape?: (number | string)[];
}

const port = parentPort;
if (port === null) throw new Error('onnx-worker must run in a worker thread');
const { path, intraOpNumThreads } = workerData as { path: string; intraOpNumThreads: number };

const meta = (m: readonly ort.InferenceSession.ValueMetadata[] | undefined, names: readonly string[]): IOInfo[] =>
  names.map((name, i) => {
    const v = m?.[i];
    return v?.isTensor ? { name, type: v.type, shape: [...v.shape] } : { name };
  });

try {
  const session = await ort.InferenceSession.create(path, {
    intraOpNumThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  port.on('message', async (msg: { id: number; feeds: Record<string, WireTensor> }) => {
    try {
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(msg.feeds)) {
        feeds[name] = new ort.Tensor(t.type as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.dims);
      }
      const res = await session.run(feeds);
      const outputs: Record<string, WireTensor> = {};
      const transfer: ArrayBuffer[] = [];
      for (const [name, t] of Object.entries(res)) {
        const data = t.data as ArrayBufferView | string[];
        outputs[name] = { type: t.type, dims: [...t.dims], data };
        if (ArrayBuffer.isView(data) && data.buffer instanceof ArrayBuffer && !transfer.includes(data.buffer)) transfer.push(data.buffer);
      }
      try {
        port.postMessage({ id: msg.id, outputs }, transfer);
      } catch {
        // Some runtime-owned buffers cannot be detached: fall back to a copy.
        port.postMessage({ id: msg.id, outputs });
      }
    } catch (e) {
      port.postMessage({ id: msg.id, error: e instanceof Error ? e.message : String(e) });
    }
  });
  port.postMessage({
    type: 'ready',
    inputs: meta(session.inputMetadata, session.inputNames),
    outputs: meta(session.outputMetadata, session.outputNames),
  });
} catch (e) {
  port.postMessage({ type: 'fatal', message: e instanceof Error ? e.message : String(e) });
}
