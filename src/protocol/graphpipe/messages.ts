import type { DType } from '../../tensor/index.js';
import type { Tensor } from '../../tensor/index.js';

/** GraphPipe messages as plain objects. The codec turns these into bytes and back. */

export interface InferRequest {
  /** Application-specific per-request configuration (GraphPipe `config`). */
  config: string;
  inputNames: string[];
  inputs: Tensor[];
  outputNames: string[];
}

export type Request = ({ type: 'infer' } & InferRequest) | { type: 'metadata' };

export interface WireError {
  code: number;
  message: string;
}

export interface InferResponse {
  outputs: Tensor[];
  errors: WireError[];
}

export interface IOMetadata {
  name: string;
  description: string;
  /** -1 means "any size". */
  shape: number[];
  type: DType;
}

export interface MetadataResponse {
  name: string;
  version: string;
  server: string;
  description: string;
  inputs: IOMetadata[];
  outputs: IOMetadata[];
}

/** Union tags of `Request.req` (graphpipe.fbs `Req`). */
export const REQ_NONE = 0;
export const REQ_INFER = 1;
export const REQ_METADATA = 2;
