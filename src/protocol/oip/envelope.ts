import { ModelpipeError, clip, quote } from '../../errors/index.js';
import { MAX_RANK, type Tensor } from '../../tensor/index.js';
import { BinaryCursor, tensorFromBinary } from './binary.js';
import { dtypeFromOip } from './datatypes.js';
import { tensorFromJSON } from './json-data.js';
import type { OipParameters } from './messages.js';

/**
 * Splitting a body into its JSON header and binary section, and reading the
 * tensor entries both requests (`inputs`) and responses (`outputs`) carry.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface Envelope {
  json: Record<string, unknown>;
  binary: BinaryCursor;
}

/** JSON arrays and objects a header may hold: nested `data` of a large batch has a few thousand. */
export const MAX_JSON_CONTAINERS = 2 ** 20;

/** Opening brackets and braces in `b`, strings included (an overcount is harmless at this cap). */
function containers(b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c === 0x5b || c === 0x7b) n++;
  }
  return n;
}

/** Parses the JSON header (the whole body without Inference-Header-Content-Length). */
export function openEnvelope(body: Uint8Array, headerLength: string | number | undefined, what: string): Envelope {
  let hl = body.length;
  if (headerLength !== undefined) {
    const n = typeof headerLength === 'number' ? headerLength : /^\d+$/.test(headerLength.trim()) ? Number(headerLength) : Number.NaN;
    if (!Number.isSafeInteger(n)) {
      throw new ModelpipeError('MP_ERR_OIP_BINARY', `Inference-Header-Content-Length must be a byte count, got ${quote(headerLength)}`);
    }
    if (n > body.length) {
      throw new ModelpipeError('MP_ERR_OIP_BINARY', `Inference-Header-Content-Length ${n} exceeds the body of ${body.length} bytes`);
    }
    hl = n;
  }
  const header = body.subarray(0, hl);
  // Each JSON container costs the sender 2 bytes and JSON.parse ~50 bytes of heap: bound
  // their count before parsing. Fewer bytes than twice the cap cannot exceed it.
  if (hl > 2 * MAX_JSON_CONTAINERS && containers(header) > MAX_JSON_CONTAINERS) {
    throw new ModelpipeError('MP_ERR_WIRE_TOO_MANY', `${what} has more than ${MAX_JSON_CONTAINERS} JSON arrays and objects`);
  }
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(header));
  } catch (err: unknown) {
    throw new ModelpipeError('MP_ERR_WIRE_BAD_JSON', `${what} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelpipeError('MP_ERR_WIRE_BAD_JSON', `${what} must be a JSON object`);
  }
  return { json: json as Record<string, unknown>, binary: new BinaryCursor(body, hl) };
}

export function parameters(v: unknown, what: string): OipParameters | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new ModelpipeError('MP_ERR_BAD_REQUEST', `${what}: "parameters" must be an object`);
  return v as OipParameters;
}

export function optionalString(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ModelpipeError('MP_ERR_BAD_REQUEST', `${what} must be a string`);
  return v;
}

export function list(v: unknown, what: string, required: boolean): unknown[] {
  if (v === undefined && !required) return [];
  if (!Array.isArray(v)) throw new ModelpipeError('MP_ERR_BAD_REQUEST', `${what} must be an array`);
  return v;
}

export function entryName(e: unknown, what: string): string {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new ModelpipeError('MP_ERR_BAD_REQUEST', `${what} must be an object`);
  const name = (e as { name?: unknown }).name;
  if (typeof name !== 'string' || name === '') throw new ModelpipeError('MP_ERR_BAD_REQUEST', `${what} needs a "name" string`);
  return name;
}

/** One `{name, shape, datatype, parameters, data}` entry: binary when binary_data_size is set, else JSON data. */
export function readTensorEntry(
  e: unknown,
  binary: BinaryCursor,
  kind: string,
): { name: string; tensor: Tensor; parameters: OipParameters | undefined } {
  const name = entryName(e, kind);
  const o = e as Record<string, unknown>;
  const what = `${kind} ${clip(name)}`;
  const dtype = dtypeFromOip(o.datatype, what);
  if (!Array.isArray(o.shape)) throw new ModelpipeError('MP_ERR_TENSOR_SHAPE', `${what}: "shape" must be an array of integers`);
  if (o.shape.length > MAX_RANK)
    throw new ModelpipeError('MP_ERR_TENSOR_SHAPE', `${what}: rank ${o.shape.length} is more than ${MAX_RANK}`);
  const shape = o.shape as number[];
  const params = parameters(o.parameters, what);
  const size = params?.binary_data_size;
  let tensor: Tensor;
  if (size !== undefined) {
    if (o.data !== undefined) throw new ModelpipeError('MP_ERR_OIP_BINARY', `${what} has both "data" and binary_data_size`);
    tensor = tensorFromBinary(dtype, shape, binary.take(size, what), what);
  } else {
    tensor = tensorFromJSON(dtype, shape, o.data, what);
  }
  return { name, tensor, parameters: params };
}

/** Binary data nobody claimed is a framing mistake worth reporting, not ignoring. */
export function closeEnvelope(env: Envelope, what: string): void {
  if (env.binary.remaining > 0) {
    throw new ModelpipeError(
      'MP_ERR_OIP_BINARY',
      `${what}: ${env.binary.remaining} bytes after the JSON header are not claimed by any binary_data_size`,
    );
  }
}
