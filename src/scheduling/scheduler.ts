import { type Batcher, hasRoom, isFull } from './batcher.js';
import type { Cancellation } from './cancel.js';
import type { Metrics } from '../observe/metrics.js';
import { ExecutionStats } from './execution-stats.js';
import type { PreparedCall } from './call.js';
import { ModelpipeError, toModelpipeError } from '../errors/index.js';
import type { Model } from '../models/model.js';
import type { Tensor } from '../tensor/index.js';
import { fanoutParts, joinOutputs, splitInputs } from './fanout.js';
import { Job, type JobResult } from './job.js';
import { mergeInputs, reclaimBodies, splitOutputs } from './merge.js';
import type { SchedulerOptions } from './options.js';
import { ABANDONED, OVERDUE, RUNNING, Run } from './run.js';
import { batchTrace } from './batch-trace.js';

export interface SubmitOptions {
  cancel?: Cancellation | undefined;
  timeoutMs?: number | undefined;
  priority?: number;
  transferable?: boolean;
  trace?: Job['trace'];
}

/**
 * The queue strategy of the batching contract (batcher.ts), in front of one model:
 * bounded, priority-ordered, FIFO within a priority.
 * It hands work to the model's instances (at most `model.instances` runs at once)
 * and, when batching is on and the model has a free batch dimension, merges
 * compatible requests along dimension 0.
 *
 * Fairness: the oldest request of the highest priority always leads the next batch,
 * so no request starves behind others.
 *
 * A run that outlives the timeout of every request in it (a function that never
 * settles, a wedged worker) is abandoned: its slots go back to the queue and the
 * model is asked to reclaim the instance (`Model.abandon`). At most
 * `maxAbandonedRuns` may be outstanding; past that an overdue run keeps its slots
 * and the model refuses requests (MP_ERR_MODEL_STUCK, not ready) until runs settle.
 */
export class ModelScheduler implements Batcher<PreparedCall, JobResult> {
  private readonly queue: Job[] = [];
  private running = 0;
  private delayTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Runs given up on, slots given back, model promise not yet settled. */
  private abandoned = 0;
  /** Overdue runs that keep their slots because the bound on abandoned runs was reached. */
  private readonly overdue: Run[] = [];
  private readonly maxAbandoned: number;
  /** Executions by batch size, rows run, last execution (the statistics extension). */
  readonly stats = new ExecutionStats();
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
    this.maxAbandoned = opts.maxAbandonedRuns ?? 2 * model.instances;
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

  /** Runs past their requests' timeouts that have not settled (abandoned or holding their slots). */
  get stuck(): number {
    return this.abandoned + this.overdue.length;
  }

  /** The bound on abandoned runs is reached while runs are stuck: new requests are refused. */
  get wedged(): boolean {
    return this.abandoned >= this.maxAbandoned && this.stuck > 0;
  }

  private get batching(): SchedulerOptions['batching'] {
    return this.model.batchable ? this.opts.batching : undefined;
  }

  submit(call: PreparedCall, o: SubmitOptions = {}): Promise<JobResult> {
    if (this.closed) return Promise.reject(new ModelpipeError('MP_ERR_SHUTTING_DOWN', 'server is shutting down'));
    if (this.wedged) {
      return Promise.reject(
        new ModelpipeError(
          'MP_ERR_MODEL_STUCK',
          `model ${this.label} has ${this.stuck} runs that outlived their timeout and have not finished; retry later`,
        ),
      );
    }
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
        (j, timedOut) => this.drop(j, timedOut),
      );
      job.trace = o.trace;
      // Insert after every job of equal or higher priority.
      let i = this.queue.length;
      while (i > 0 && (this.queue[i - 1] as Job).priority < job.priority) i--;
      this.queue.splice(i, 0, job);
      this.pump();
    });
  }

  private drop(job: Job, timedOut: boolean): void {
    if (job.exec !== undefined) {
      if (timedOut) this.overdueRun(job.exec as Run);
      return;
    }
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
  }

  /** A request of a running run timed out: once nobody waits for the run, give up on it. */
  private overdueRun(run: Run): void {
    if (run.state !== RUNNING || !run.unwaited) return;
    if (this.abandoned >= this.maxAbandoned) {
      run.state = OVERDUE;
      this.overdue.push(run);
      return;
    }
    run.state = ABANDONED;
    this.abandoned++;
    this.running -= run.slots;
    run.abort();
    if (this.model.abandon) for (const r of run.parts ?? [run]) this.model.abandon(r);
    this.pump();
  }

  /** A run left its state: release what it held, and let an overdue run take a freed place among the abandoned. */
  private settled(run: Run): void {
    if (run.state === ABANDONED) {
      this.abandoned--;
      const next = this.overdue.shift();
      if (next !== undefined) {
        next.state = RUNNING;
        this.overdueRun(next);
      }
      return;
    }
    if (run.state === OVERDUE) this.overdue.splice(this.overdue.indexOf(run), 1);
    this.running -= run.slots;
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
      if (j.signature === head.signature && hasRoom(b, rows, 0, j.rows, 0)) {
        picked.push(i);
        rows += j.rows;
      }
    }
    const waitedUs = (performance.now() - head.enqueuedAt) * 1000;
    const full = isFull(b, rows, 0);
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
    clearTimeout(this.delayTimer); // (none set: a no-op)
    this.delayTimer = undefined;
    const jobs = picked.map((i) => this.queue[i] as Job);
    for (let k = picked.length - 1; k >= 0; k--) this.queue.splice(picked[k] as number, 1);
    return jobs;
  }

  private async execute(jobs: Job[], idle: number): Promise<void> {
    const live = jobs.filter((j) => !j.settled);
    const first = live[0];
    if (first === undefined) return;
    // Phases (for /metrics and the statistics extension): queue until t0, input
    // (merge, split) until started, infer until ran, output (split per request) after.
    const t0 = performance.now();
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
    const transferable = merged || first.transferable;
    // A lone request's run may be aborted with it; a merged batch serves others too.
    const cancel = merged ? undefined : first.cancel;
    const { outputNames, config } = first.call;
    const run = new Run(inputs, transferable, outputNames, config, cancel, live, k);
    for (const j of live) j.exec = run;
    this.running += k; // before the first await: pump() counts it at once
    const bt = batchTrace(live, rows, k, t0);
    run.traced = bt; // explicit (RunRequest.trace): no AsyncLocalStorage for the run
    try {
      let outputs: Tensor[];
      let counts: number[] | undefined;
      let started: number;
      if (k > 1) {
        const split = splitInputs(inputs, rows, k, transferable);
        counts = split.counts;
        run.parts = split.parts.map((p) => new Run(p, true, outputNames, config, cancel, live, 1, bt));
        started = performance.now();
        const all = () => Promise.all((run.parts as Run[]).map((p) => this.model.run(p)));
        outputs = joinOutputs(await (bt ? bt.run(all, false) : all()));
      } else {
        // A lone request has no input or output work to time: two clock reads fewer on the hot path.
        started = merged ? performance.now() : t0;
        outputs = await (bt ? bt.run(() => this.model.run(run), false) : this.model.run(run));
      }
      const ran = performance.now();
      bt?.end(undefined, ran);
      const parts = merged ? splitOutputs(outputs, live) : [outputs];
      const inputMs = started - t0;
      const computeMs = ran - started;
      const outputMs = merged ? performance.now() - ran : 0;
      this.recordExecution(counts ?? rows, inputMs, computeMs, outputMs);
      for (let i = 0; i < live.length; i++) {
        const j = live[i] as Job;
        if (!j.settled) this.stats.inferences += j.rows;
        j.resolve({ outputs: parts[i] as Tensor[], queueMs: t0 - j.enqueuedAt, inputMs, computeMs, outputMs, batchRows: rows });
      }
    } catch (err: unknown) {
      const e = toModelpipeError(err, 'MP_ERR_MODEL_RUNTIME');
      bt?.end(e);
      for (const j of live) j.reject(e);
    } finally {
      for (const j of live) j.finished();
      this.settled(run);
      this.pump();
    }
  }

  /** Counts an execution (or the parts of a fanned-out one) for /metrics and the statistics extension. */
  private recordExecution(rows: number | number[], inputMs: number, inferMs: number, outputMs: number): void {
    if (typeof rows === 'number') this.recordPart(rows, inputMs, inferMs, outputMs);
    else for (const c of rows) this.recordPart(c, inputMs, inferMs, outputMs);
    this.stats.lastInference = Date.now();
  }

  private recordPart(rows: number, inputMs: number, inferMs: number, outputMs: number): void {
    this.m.executions.inc();
    this.m.batchSize.observe(rows);
    this.stats.record(rows, inputMs, inferMs, outputMs);
  }

  /** Stops accepting; waits for queued and running work to finish. */
  async drain(): Promise<void> {
    this.closed = true;
    const held = () => this.overdue.reduce((n, r) => n + r.slots, 0); // stuck runs may never settle: not waited for
    while (this.queue.length > 0 || this.running > held()) await new Promise((r) => setTimeout(r, 10));
  }
}
