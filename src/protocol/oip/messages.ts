import type { Tensor } from '../../tensor/index.js';

/** Open Inference Protocol (KServe v2) messages, with tensors already decoded. */

export type OipParameterValue = string | number | boolean;
export type OipParameters = Record<string, OipParameterValue>;

export interface OipNamedTensor {
  name: string;
  tensor: Tensor;
  parameters?: OipParameters;
}

export interface OipRequestedOutput {
  name: string;
  parameters?: OipParameters;
}

export interface OipInferRequest {
  id?: string;
  parameters?: OipParameters;
  inputs: OipNamedTensor[];
  /** Empty: the model's default outputs. */
  outputs: OipRequestedOutput[];
}

export interface OipInferResponse {
  id?: string;
  modelName: string;
  modelVersion: string;
  parameters?: OipParameters;
  outputs: OipNamedTensor[];
}

/** The header that says where the JSON ends and binary tensor data begins. */
export const HEADER_LENGTH = 'inference-header-content-length';

/** A body as chunks, plus the JSON header length when binary data follows it. */
export interface OipEncoded {
  chunks: Uint8Array[];
  headerLength: number | undefined;
  contentType: string;
}

/** A model's metadata as `GET /v2/models/{m}` answers it. */
export interface OipTensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

export interface OipModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: OipTensorMetadata[];
  outputs: OipTensorMetadata[];
  parameters?: Record<string, unknown>;
}
