import type { Engine } from '../core/engine.js';
import type { ModelMetadata } from '../models/model.js';
import { Tensor, ownedCopy, stackInputs, unstackNamed } from '../tensor/index.js';

/** A tensor example: one tensor per model input, or a bare tensor for single-input models. */
export type TensorExample = Tensor | Record<string, Tensor>;

/**
 * Runs one batch the flow formed as one `engine.infer` call on entry `entry`: examples
 * are stacked along dimension 0 (one memcpy each), the engine validates the stack as it
 * validates a server request (same codes: MP_ERR_INPUT_DTYPE, _RANK, _DIM...), schedules
 * it on the model's instances, and the outputs are split back per example (views).
 *
 * Each example tensor carries its own leading batch dimension (usually 1); a tensor of
 * rank one less than the model input gets a leading 1 added. Models whose batch
 * dimension is pinned (mnist: 1) get one call per example, all issued at once.
 *
 * Every call resolves `entry` synchronously, before anything is awaited, so a batch runs
 * wholly on the model version that was current when it started (see core/model-slot.ts).
 */
export function inferBatch(
  engine: Engine,
  entry: string,
  examples: readonly TensorExample[],
  outputs: readonly string[] | undefined,
): Promise<Record<string, Tensor>[]> {
  const md = engine.metadata(entry);
  const dicts = examples.map((x) => asDict(x, md));
  if (!engine.model(entry).batchable && dicts.length > 1) {
    return Promise.all(dicts.map((d) => inferStacked(engine, entry, [d], outputs))).then((rs) => rs.flat());
  }
  return inferStacked(engine, entry, dicts, outputs);
}

async function inferStacked(
  engine: Engine,
  entry: string,
  dicts: readonly Record<string, Tensor>[],
  outputs: readonly string[] | undefined,
): Promise<Record<string, Tensor>[]> {
  const { inputs, rows } = stackInputs(dicts);
  const names = [...inputs.keys()];
  // A lone example's data belongs to the caller: copy it so transferring cannot detach it.
  const tensors = [...inputs.values()].map((t) => (dicts.length === 1 && t.dtype !== 'string' ? ownedCopy(t) : t));
  const call = { inputNames: names, inputs: tensors, outputNames: outputs ?? [], config: '', transferable: true };
  const res = await engine.infer(entry, call, 'runinference');
  return unstackNamed(res.outputNames, res.outputs, rows);
}

function asDict(x: TensorExample, md: ModelMetadata): Record<string, Tensor> {
  const dict: Record<string, Tensor> = x instanceof Tensor ? { [md.defaultInputs[0] ?? md.inputs[0]?.name ?? 'input']: x } : { ...x };
  for (const spec of md.inputs) {
    const t = dict[spec.name];
    if (t instanceof Tensor && t.shape.length === spec.shape.length - 1) dict[spec.name] = new Tensor(t.dtype, [1, ...t.shape], t.data);
  }
  return dict;
}
