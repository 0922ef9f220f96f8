import { describe, it } from 'node:test';
import type { Model } from '../../src/models/model.js';
import type { Tensor } from '../../src/tensor/index.js';
import { Metrics } from '../../src/observe/metrics.js';
import { Cancellation } from '../../src/scheduling/cancel.js';
import { ModelScheduler } from '../../src/scheduling/scheduler.js';
import { type BatchCase, CASES, type Outcome, caseModel, checkOutcome, codeOf, itemInputs, sleep } from './batcher.case.js';

/** Runs a case through the queue strategy: one instance, requests submitted as they arrive. */
async function runQueue(c: BatchCase): Promise<Outcome> {
  const batches: number[][] = [];
  const run = caseModel(c, batches);
  const model: Model = {
    metadata: {
      name: 'case',
      version: '1',
      description: '',
      server: 'test',
      inputs: [],
      outputs: [],
      defaultInputs: [],
      defaultOutputs: [],
    },
    instances: 1,
    batchable: true,
    // Settles on a later turn, as a real model does: requests keep arriving meanwhile.
    run: async (req) => {
      await sleep(1);
      return run(req.inputs);
    },
    close: async () => {},
  };
  const l = c.limits;
  const batching = { maxBatchSize: l.maxBatchSize, maxQueueDelayUs: l.maxWaitMs * 1000, preferredBatchSizes: l.preferredBatchSizes ?? [] };
  const sched = new ModelScheduler(
    model,
    'case',
    { maxQueueSize: 100, timeoutMs: 0, fanout: false, batching },
    new Metrics({ defaultMetrics: false }),
  );
  const results: Outcome['results'] = [];
  const settled: Promise<void>[] = [];
  for (let i = 0; i < c.items.length; i++) {
    const item = c.items[i] as (typeof c.items)[number];
    if (item.afterMs) await sleep(item.afterMs);
    const cancel = new Cancellation();
    const p = sched.submit({ inputs: itemInputs(item, i), outputNames: ['y'], config: '' }, { cancel, priority: item.priority ?? 0 });
    settled.push(
      p.then(
        (r) => {
          results[i] = r.outputs[0] as Tensor;
        },
        (e: unknown) => {
          results[i] = codeOf(e);
        },
      ),
    );
    if (item.cancel) cancel.cancel();
  }
  await Promise.all(settled);
  await sched.drain();
  return { batches, results };
}

describe('batching contract: the queue strategy (ModelScheduler)', () => {
  for (const c of CASES) {
    const skip = c.only !== undefined && c.only.strategy !== 'queue' ? c.only.why : false;
    it(c.name, { skip }, async () => checkOutcome(c, await runQueue(c)));
  }
});
