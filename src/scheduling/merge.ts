import { type NumericArray, type Tensor, largeBuffers, stackInputs, unstackOutputs } from '../tensor/index.js';
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

/** A merged batch's inputs: the jobs' inputs stacked (tensor/batch.ts's stackInputs). */
export function mergeInputs(jobs: readonly Job[]): Map<string, Tensor> {
  return stackInputs(jobs.map((j) => j.call.inputs)).inputs;
}

/** Each job's share of a merged batch's outputs (views, no copy). */
export function splitOutputs(outputs: readonly Tensor[], jobs: readonly Job[]): Tensor[][] {
  return unstackOutputs(
    outputs,
    jobs.map((j) => j.rows),
  );
}
