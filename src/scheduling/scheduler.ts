import { type Cancellation, NEVER_ABORTED } from '../core/cancel.js';
import type { Metrics } from '../core/metrics.js';
import type { PreparedCall } from '../core/validate.js';
import { ModelpipeError, toModelpipeError } from '../errors/index.js';
import type { Model, RunRequest } from '../models/model.js';
import { type NumericArray, type Tensor, concat, largeBuffers, split } from '../tensor/index.js';
import { fanoutParts, joinOutputs, splitInputs } from './fanout.js';
import { Job, type JobResult } from './job.js';
import type { SchedulerOptions } from './options.js';

export interface SubmitOptions {
  cancel?: Cancellation | undefined;
  timeoutMs?: number | undefined;
  priority?: number;
  transferable?: boolean;
}

/**
 * The queue in front of one model: bounded, priority-ordered, FIFO within a priority.
 * It hands work to the model's instances (at most `model.instances` runs at once)
 * and, when batching is on and the model has a free batch dimension, merges
 * compatible requests along dimension 0.
 *
 * Fairness: the oldest request of the highest priority always leads the next batch,
 * so no request starves behind others.
 */
export class ModelScheduler {
  private readonly queue: Job[] = [];
  private running = 0;
  private delayTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Metric children bound to this model (label hashing per request is costly). */
  private readonly m: { executions: { inc(): void }; batchSize: { observe(v: number): void } };

  constructor(
    private readonly model: Model,
    private readonly label: string,
    private readonly opts: SchedulerOptions,
    metrics: Metrics,
  ) {
    this.m = {
      executions: metrics.executions.labels({ model: label }),
      batchSize: metrics.batchSize.labels({ model: label }),
    };
  }

  get options(): SchedulerOptions {
    return this.opts;
  }

  get depth(): number {
    return this.queue.length;
  }

  get busy(): number {
    return this.running;
  }

  private get batching(): SchedulerOptions['batching'] {
    return this.model.batchable ? this.opts.batching : undefined;
  }

  submit(call: PreparedCall, o: SubmitOptions = {}): Promise<JobResult> {
    if (this.closed) return Promise.reject(new ModelpipeError('MP_ERR_SHUTTING_DOWN', 'server is shutting down'));
    if (this.queue.length >= this.opts.maxQueueSize) {
      return Promise.reject(
        new ModelpipeError('MP_ERR_QUEUE_FULL', `model ${this.label} queue is full (${this.opts.maxQueueSize} waiting); retry later`),
      );
    }
    if (o.cancel?.aborted) return Promise.reject(new ModelpipeError('MP_ERR_CANCELLED', 'request cancelled before it was queued'));
    return new Promise<JobResult>((resolve, reject) => {
      const job = new Job(
        call,
        o.priority ?? 0,
        o.transferable ?? false,
        resolve,
        reject,
        o.cancel,
        o.timeoutMs ?? this.opts.timeoutMs,
        (j) => this.drop(j),
      );
      // Insert after every job of equal or higher priority.
      let i = this.queue.length;
      while (i > 0 && (this.queue[i - 1] as Job).priority < job.priority) i--;
      this.queue.splice(i, 0, job);
      this.pump();
    });
  }

  private drop(job: Job): void {
    const i = this.queue.indexOf(job);
    if (i >= 0) {
      this.queue.splice(i, 1);
    }
  }

  private pump(): void {
    while (this.running < this.model.instances && this.queue.length > 0) {
      const batch = this.takeBatch();
      if (batch === undefined) return; // waiting for more requests to join
      // Idle instances beyond this batch's own may share it when nothing else waits.
      void this.execute(batch, this.queue.length === 0 ? this.model.instances - this.running : 1);
    }
  }

  /** The next batch to run, or undefined to wait out the queue delay for a fuller one. */
  private takeBatch(): Job[] | undefined {
    const head = this.queue[0] as Job;
    const b = this.batching;
    if (b === undefined || head.rows >= b.maxBatchSize) return this.queue.splice(0, 1);
    const picked: number[] = [];
    let rows = 0;
    for (let i = 0; i < this.queue.length && rows < b.maxBatchSize; i++) {
      const j = this.queue[i] as Job;
      if (j.signature === head.signature && rows + j.rows <= b.maxBatchSize) {
        picked.push(i);
        rows += j.rows;
      }
    }
    const waitedUs = (performance.now() - head.enqueuedAt) * 1000;
    const full = rows >= b.maxBatchSize || b.preferredBatchSizes.includes(rows);
    if (!full && waitedUs < b.maxQueueDelayUs) {
      if (this.delayTimer === undefined) {
        this.delayTimer = setTimeout(
          () => {
            this.delayTimer = undefined;
            this.pump();
          },
          Math.max(0, (b.maxQueueDelayUs - waitedUs) / 1000),
        );
      }
      return undefined;
    }
    if (this.delayTimer !== undefined) {
      clearTimeout(this.delayTimer);
      this.delayTimer = undefined;
    }
    const jobs = picked.map((i) => this.queue[i] as Job);
    for (let k = picked.length - 1; k >= 0; k--) this.queue.splice(picked[k] as number, 1);
    return jobs;
  }

  private async execute(jobs: Job[], idle: number): Promise<void> {
    const live = jobs.filter((j) => !j.settled);
    const first = live[0];
    if (first === undefined) return;
    const merged = live.length > 1;
    const rows = live.reduce((n, j) => n + j.rows, 0);
    let inputs: ReadonlyMap<string, Tensor>;
    try {
      inputs = merged ? mergeInputs(live) : first.call.inputs;
    } catch (err: unknown) {
      const e = toModelpipeError(err, 'MP_ERR_MODEL_RUNTIME');
      for (const j of live) j.reject(e);
      return;
    }
    if (merged) reclaimBodies(live);
    const k = this.opts.fanout ? fanoutParts(this.model, inputs, rows, idle) : 1;
    this.running += k; // before the first await: pump() counts it at once
    const started = performance.now();
    try {
      // A lone request's run may be aborted with it; a merged batch serves others too.
      const cancel = merged ? undefined : first.cancel;
      const request = (part: ReadonlyMap<string, Tensor>, transferable: boolean): RunRequest =>
        new Run(part, transferable, first.call.outputNames, first.call.config, cancel);
      let outputs: Tensor[];
      const transferable = merged || first.transferable;
      if (k > 1) {
        const { counts, parts } = splitInputs(inputs, rows, k, transferable);
        outputs = joinOutputs(await Promise.all(parts.map((p) => this.model.run(request(p, true)))));
        for (const c of counts) {
          this.m.executions.inc();
          this.m.batchSize.observe(c);
        }
      } else {
        outputs = await this.model.run(request(inputs, transferable));
        this.m.executions.inc();
        this.m.batchSize.observe(rows);
      }
      const computeMs = performance.now() - started;
      const parts = merged ? splitOutputs(outputs, live, rows) : [outputs];
      live.forEach((j, i) => {
        j.resolve({ outputs: parts[i] as Tensor[], queueMs: started - j.enqueuedAt, computeMs, batchRows: rows });
      });
    } catch (err: unknown) {
      const e = toModelpipeError(err, 'MP_ERR_MODEL_RUNTIME');
      for (const j of live) j.reject(e);
    } finally {
      this.running -= k;
      this.pump();
    }
  }

  /** Stops accepting; waits for queued and running work to finish. */
  async drain(): Promise<void> {
    this.closed = true;
    while (this.queue.length > 0 || this.running > 0) await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Merged requests' own buffers were copied into the batch: recycle their memory.
 * Not for a request with a string input: concat keeps its elements as views into
 * the same body, and detaching the body would empty them.
 */
function reclaimBodies(jobs: readonly Job[]): void {
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

function mergeInputs(jobs: readonly Job[]): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const name of (jobs[0] as Job).call.inputs.keys()) {
    out.set(name, concat(jobs.map((j) => j.call.inputs.get(name) as Tensor)));
  }
  return out;
}

function splitOutputs(outputs: readonly Tensor[], jobs: readonly Job[], rows: number): Tensor[][] {
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

/** A model run; its AbortSignal is made only if the model asks for it (a prototype getter, never spread). */
class Run implements RunRequest {
  constructor(
    readonly inputs: ReadonlyMap<string, Tensor>,
    readonly transferable: boolean,
    readonly outputNames: readonly string[],
    readonly config: string,
    private readonly cancel: Cancellation | undefined,
  ) {}

  get signal(): AbortSignal {
    return this.cancel?.signal ?? NEVER_ABORTED;
  }
}
