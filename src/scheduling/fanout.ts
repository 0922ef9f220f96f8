import type { Model } from '../models/model.js';
import { type Tensor, concat, ownedCopy, split } from '../tensor/index.js';

/**
 * Fan-out of one large batch over idle model instances.
 *
 * Why: several single-threaded instances outrun one multi-threaded session on a
 * busy CPU (no barrier between threads at every operator), but a lone client sending
 * a batch of 16 would then use one core. Splitting that batch along dimension 0
 * across the idle instances gives it all of them; outputs are joined in order.
 * Each part is copied into memory of its own so it can be transferred to a worker
 * (the copy is a few percent of the inference it feeds; small batches are not split).
 */

/** Below this many input bytes per part, the copy and the extra messages cost more than they save. */
export const FANOUT_MIN_PART_BYTES = 256 * 1024;

/** How many parts a batch of `rows` rows should be split into, given `idle` instances (1 = run whole). */
export function fanoutParts(model: Model, inputs: ReadonlyMap<string, Tensor>, rows: number, idle: number): number {
  if (idle < 2 || rows < 2 || !model.batchable || model.fanout !== true) return 1;
  let bytes = 0;
  for (const t of inputs.values()) {
    if (t.dtype === 'string' || t.shape[0] !== rows) return 1;
    bytes += t.byteLength;
  }
  const k = Math.min(idle, rows, Math.floor(bytes / FANOUT_MIN_PART_BYTES));
  return Math.max(1, k);
}

/**
 * Splits every input into `k` parts of near-equal row counts. Parts 1… are copied
 * into buffers of their own; part 0 stays a view into the original when that may be
 * transferred (the worker receives the whole buffer, and hands it back for reuse),
 * else it is copied too.
 */
export function splitInputs(
  inputs: ReadonlyMap<string, Tensor>,
  rows: number,
  k: number,
  transferable: boolean,
): { counts: number[]; parts: Map<string, Tensor>[] } {
  const counts = Array.from({ length: k }, (_, i) => Math.floor(rows / k) + (i < rows % k ? 1 : 0));
  const parts = counts.map(() => new Map<string, Tensor>());
  for (const [name, t] of inputs) {
    split(t, counts).forEach((view, i) => {
      (parts[i] as Map<string, Tensor>).set(name, i === 0 && transferable ? view : ownedCopy(view));
    });
  }
  return { counts, parts };
}

/** Joins per-part outputs (same order of output names) back into whole-batch outputs. */
export function joinOutputs(parts: readonly Tensor[][]): Tensor[] {
  const first = parts[0] ?? [];
  return first.map((_, o) => concat(parts.map((p) => p[o] as Tensor)));
}
