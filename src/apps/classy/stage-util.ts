import { ModelpipeError } from '../../errors/index.js';
import type { FunctionModelOptions } from '../../models/function-model.js';
import { type DType, type Nested, type Tensor, isTensor } from '../../tensor/index.js';

/** Small helpers the two Classy stages share. */

export const EMPTY_BYTES = new Uint8Array(0);

/** A stage input as byte strings; any other dtype is the caller's mistake (400). */
export function asStrings(v: Tensor | Nested | undefined, name: string): Uint8Array[] {
  if (!isTensor(v) || v.dtype !== 'string') throw new ModelpipeError('MP_ERR_INPUT_DTYPE', `input ${name} must be a string tensor`);
  if (v.shape.length !== 1) throw new ModelpipeError('MP_ERR_INPUT_RANK', `input ${name} must be a vector (one entry per image)`);
  return [...(v.data as readonly Uint8Array[])];
}

/** The three outputs every stage declares (protocol.ts). */
export function stageSpecs(dtype: DType, description: string): FunctionModelOptions['outputs'] {
  return [
    { name: 'output', dtype, shape: [-1], description: `${description}; one row per successful input` },
    { name: 'errors', dtype: 'string', shape: [-1], description: 'per input: "" or "CODE: message"' },
    { name: 'timings', dtype: 'string', shape: [1], description: 'JSON milliseconds per stage' },
  ];
}
