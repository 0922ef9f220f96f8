import type { DType, NumericArray } from '../../tensor/index.js';

/** Messages between the main thread and an onnxruntime worker thread. */

export interface SessionSettings {
  modelPath: string;
  device: 'cpu' | 'cuda';
  intraOpThreads?: number;
  interOpThreads?: number;
  /** Overrides for free dimensions, e.g. from --value-inputs. */
  freeDimensionOverrides?: Record<string, number>;
  /** Let onnxruntime's thread pool spin-wait (default true in onnxruntime; false leaves CPU to the event loop). */
  spinning?: boolean;
  /** Nice value for the worker and onnxruntime's threads (0 = unchanged). */
  nice?: number;
}

/** Tensor payload crossing the thread boundary: typed arrays are transferred, strings copied. */
export interface WireTensor {
  dtype: DType;
  shape: number[];
  data: NumericArray | Uint8Array[];
}

export interface IOSpecMsg {
  name: string;
  dtype: DType;
  /** -1 for symbolic or unknown dimensions. */
  shape: number[];
}

export type ToWorker = { kind: 'run'; id: number; feeds: Record<string, WireTensor>; outputNames: string[] } | { kind: 'close' };

export type FromWorker =
  | { kind: 'ready'; inputs: IOSpecMsg[]; outputs: IOSpecMsg[]; loadMs: number }
  | { kind: 'load-error'; message: string; device: boolean }
  | { kind: 'result'; id: number; outputs: WireTensor[]; recycled: ArrayBuffer[] }
  | { kind: 'error'; id: number; message: string };
