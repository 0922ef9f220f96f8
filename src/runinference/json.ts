import { Tensor, toJSONValue } from '../tensor/index.js';

/**
 * The one JSON form of pipeline values, used by every sink (JSONL, CSV, SQL, Redis):
 * tensors as nested arrays, bigints as numbers (strings when unsafe), bytes as base64.
 */
export function jsonReplacer(_k: string, v: unknown): unknown {
  if (v instanceof Tensor) return toJSONValue(v);
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  return v;
}

export function toJSON(v: unknown): string {
  return JSON.stringify(v, jsonReplacer);
}
