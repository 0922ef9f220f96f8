import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as fb from 'flatbuffers';
import { repoRoot } from './shared.js';

/**
 * The independent GraphPipe implementation: flatc's TypeScript for our schema
 * (compiled to CommonJS by scripts/gen-conformance.sh) on the official `flatbuffers`
 * runtime. It is generated after `tsc` runs, so its types are declared here by hand,
 * only as far as the tests use them. Both modules come from one `require`, so the
 * generated code and the tests share the same runtime instance.
 */
const require = createRequire(join(repoRoot, 'package.json'));
export const flatbuffers = require('flatbuffers') as typeof fb;

type B = fb.Builder;
type Off = number;

export interface OTensor {
  type(): number;
  shapeLength(): number;
  shape(i: number): bigint | null;
  dataLength(): number;
  dataArray(): Uint8Array | null;
  stringValLength(): number;
  stringVal(i: number, enc: fb.Encoding): string | Uint8Array;
}
export interface OInferRequest {
  config(): string | null;
  inputNamesLength(): number;
  inputNames(i: number): string;
  inputTensorsLength(): number;
  inputTensors(i: number): OTensor | null;
  outputNamesLength(): number;
  outputNames(i: number): string;
}
export interface ORequest {
  reqType(): number;
  req(obj: object): object | null;
}
export interface OError {
  code(): bigint;
  message(): string | null;
}
export interface OInferResponse {
  outputTensorsLength(): number;
  outputTensors(i: number): OTensor | null;
  errorsLength(): number;
  errors(i: number): OError | null;
}
export interface OIOMetadata {
  name(): string | null;
  description(): string | null;
  shapeLength(): number;
  shape(i: number): bigint | null;
  type(): number;
}
export interface OMetadataResponse {
  name(): string | null;
  version(): string | null;
  server(): string | null;
  description(): string | null;
  inputsLength(): number;
  inputs(i: number): OIOMetadata | null;
  outputsLength(): number;
  outputs(i: number): OIOMetadata | null;
}

interface Root<T> {
  new (): T;
}
type Vec = (b: B, offs: Off[]) => Off;
export interface Generated {
  Request: {
    getRootAsRequest(bb: fb.ByteBuffer): ORequest;
    createRequest(b: B, type: number, req: Off): Off;
  };
  InferRequest: Root<OInferRequest> & {
    createInferRequest(b: B, config: Off, names: Off, tensors: Off, outNames: Off): Off;
    createInputNamesVector: Vec;
    createInputTensorsVector: Vec;
    createOutputNamesVector: Vec;
  };
  MetadataRequest: Root<object> & { createMetadataRequest(b: B): Off };
  Tensor: {
    createShapeVector(b: B, dims: bigint[]): Off;
    createStringValVector: Vec;
    createTensor(b: B, type: number, shape: Off, data: Off, strings: Off): Off;
  };
  InferResponse: {
    getRootAsInferResponse(bb: fb.ByteBuffer): OInferResponse;
    createInferResponse(b: B, tensors: Off, errors: Off): Off;
    createOutputTensorsVector: Vec;
    createErrorsVector: Vec;
  };
  Error: { createError(b: B, code: bigint, message: Off): Off };
  MetadataResponse: {
    getRootAsMetadataResponse(bb: fb.ByteBuffer): OMetadataResponse;
    createMetadataResponse(b: B, name: Off, version: Off, server: Off, desc: Off, inputs: Off, outputs: Off): Off;
    createInputsVector: Vec;
    createOutputsVector: Vec;
  };
  IOMetadata: {
    createShapeVector(b: B, dims: bigint[]): Off;
    createIOMetadata(b: B, name: Off, desc: Off, shape: Off, type: number): Off;
  };
}

export const gp = require(join(repoRoot, 'dist/conformance/schema_generated.js')) as Generated;

export const bb = (bytes: Uint8Array): fb.ByteBuffer => new flatbuffers.ByteBuffer(bytes);

/**
 * A [uint8] vector whose first byte lands at message offset ≡ `phase` (mod 8).
 * createByteVector aligns to 1 (only the 4-byte length prefix is aligned), as
 * graphpipe-py does; the explicit prep fixes the phase so 8-byte payloads are
 * deliberately misaligned (phase 4) or aligned (phase 0). The builder's buffers
 * are back-to-front, so "after n (+4) more bytes" is where the data will start.
 */
export function byteVector(b: B, bytes: Uint8Array, phase: 0 | 4): Off {
  b.prep(8, bytes.length + phase);
  return b.createByteVector(bytes);
}

/** Finishes and copies the message into a fresh buffer (memory offset 0). */
export function finish(b: B, root: Off): Uint8Array {
  b.finish(root);
  return b.asUint8Array().slice();
}

/** Offset of a tensor's data inside the message, as the official reader sees it. */
export function dataOffset(msg: Uint8Array, t: OTensor): number {
  const d = t.dataArray();
  if (d === null) throw new Error('tensor has no data vector');
  return d.byteOffset - msg.byteOffset;
}
