import { describe, it } from 'node:test';
import { StreamBatcher } from '../../src/scheduling/stream-batcher.js';
import { type Tensor, batchSignature, stackInputs, unstackOutputs } from '../../src/tensor/index.js';
import { type BatchCase, CASES, type Outcome, caseModel, checkOutcome, codeOf, itemInputs, sleep } from './batcher.case.js';

/** The stream strategy for a case; items are their indices, examples their tensors. */
function streamFor(c: BatchCase, batches: number[][]) {
  const examples = c.items.map((item, i) => itemInputs(item, i));
  const l = c.limits;
  const options = {
    maxBatchSize: l.maxBatchSize,
    // Default: wait for a full batch or the deadline, as the queue does.
    minBatchSize: l.minBatchSize ?? l.maxBatchSize,
    maxWaitMs: l.maxWaitMs,
    preferredBatchSizes: l.preferredBatchSizes ?? [],
    ...(l.maxBatchWeight === undefined ? {} : { maxBatchWeight: l.maxBatchWeight }),
    weight: (i: number) => c.items[i]?.weight ?? 1,
    signature: (i: number) => batchSignature(examples[i]),
  };
  const model = caseModel(c, batches);
  // What RunInference does with a batch: stack, run, unstack per example.
  const run = async (idx: readonly number[]): Promise<Tensor[]> => {
    const { inputs, rows } = stackInputs(idx.map((i) => examples[i] as Map<string, Tensor>));
    return unstackOutputs(model(inputs), rows).map((outs) => outs[0] as Tensor);
  };
  return { batcher: new StreamBatcher<number, Tensor>(options, run), run };
}

/** Pulled, as a Flow does: a source read only as batches are asked for. */
async function runPulled(c: BatchCase): Promise<Outcome> {
  const batches: number[][] = [];
  const { batcher, run } = streamFor(c, batches);
  const source = async function* () {
    for (let i = 0; i < c.items.length; i++) {
      const after = c.items[i]?.afterMs;
      if (after) await sleep(after);
      yield i;
    }
  };
  const results: Outcome['results'] = [];
  for await (const batch of batcher.batches(source())) {
    try {
      const outs = await run(batch);
      for (let k = 0; k < batch.length; k++) results[batch[k] as number] = outs[k] as Tensor;
    } catch (e) {
      for (const i of batch) results[i] = codeOf(e);
    }
  }
  return { batches, results };
}

/** Pushed, through the contract's submit: the end of the input is the drain. */
async function runPushed(c: BatchCase): Promise<Outcome> {
  const batches: number[][] = [];
  const { batcher } = streamFor(c, batches);
  const results: Outcome['results'] = [];
  const settled: Promise<void>[] = [];
  for (let i = 0; i < c.items.length; i++) {
    const after = c.items[i]?.afterMs;
    if (after) await sleep(after);
    settled.push(
      batcher.submit(i).then(
        (t) => {
          results[i] = t;
        },
        (e: unknown) => {
          results[i] = codeOf(e);
        },
      ),
    );
  }
  await batcher.drain();
  await Promise.all(settled);
  return { batches, results };
}

for (const [mode, runCase] of [
  ['pulled', runPulled],
  ['pushed', runPushed],
] as const) {
  describe(`batching contract: the stream strategy (StreamBatcher, ${mode})`, () => {
    for (const c of CASES) {
      const skip = c.only !== undefined && c.only.strategy !== 'stream' ? c.only.why : false;
      it(c.name, { skip }, async () => checkOutcome(c, await runCase(c)));
    }
  });
}
