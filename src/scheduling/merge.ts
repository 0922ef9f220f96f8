import { ModelpipeError } from '../errors/index.js';
import { type NumericArray, type Tensor, concat, largeBuffers, split } from '../tensor/index.js';
import type { Job } from './job.js';

/**
 * Merged requests' own buffers were copied into the batch: recycle their memory.
 * Not for a request with a string input: concat keeps its elements as views into
 * the same body, and detaching the body would empty them.
 */
export function reclaimBodies(jobs: readonly Job[]): void {
  const bodies = new Set<ArrayBuffer>();
  for (const j of jobs) {
    const inputs = [...j.call.inputs.values()];
    if (!j.transferable || inputs.some((t) => t.dtype === 'string')) continue;
    for (const t of inputs) {
      const ab = (t.data as NumericArray).buffer;
      if (ab instanceof ArrayBuffer) bodies.add(ab);
    }
  }
  for (const ab of bodies) largeBuffers.reclaim(ab);
}

export function mergeInputs(jobs: readonly Job[]): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const name of (jobs[0] as Job).call.inputs.keys()) {
    out.set(name, concat(jobs.map((j) => j.call.inputs.get(name) as Tensor)));
  }
  return out;
}

export function splitOutputs(outputs: readonly Tensor[], jobs: readonly Job[], rows: number): Tensor[][] {
  const per = jobs.map(() => [] as Tensor[]);
  for (const t of outputs) {
    if (t.shape[0] !== rows) {
      throw new ModelpipeError('MP_ERR_MODEL_OUTPUT', `merged batch of ${rows} rows produced an output with ${t.shape[0]} rows`);
    }
    split(
      t,
      jobs.map((j) => j.rows),
    ).forEach((p, i) => {
      (per[i] as Tensor[]).push(p);
    });
  }
  return per;
}
