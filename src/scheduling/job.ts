import { ModelpipeError } from '../errors/index.js';
import type { Cancellation } from './cancel.js';
import type { PreparedCall } from './call.js';
import type { RequestTrace } from '../observe/tracing.js';
import { type Tensor, batchSignature } from '../tensor/index.js';

export interface JobResult {
  outputs: Tensor[];
  queueMs: number;
  /** Preparing the inputs: merging a batch, splitting it over instances. */
  inputMs: number;
  /** The model's run (the "compute" phase of /metrics). */
  computeMs: number;
  /** Splitting a merged batch's outputs per request. */
  outputMs: number;
  batchRows: number;
}

/** The model run a job is part of while it runs (see ModelScheduler.execute). */
export interface Execution {
  readonly jobs: readonly Job[];
}

/**
 * One request in a model queue. It settles exactly once: with its outputs, or with
 * a timeout/cancel error the moment that happens, even if its batch is still running
 * (the batch's result is then dropped for this job).
 *
 * `onDrop(job, timedOut)` tells the scheduler: a queued job leaves the queue; a
 * running job's timeout may mean its run is stuck. A job cancelled while running
 * keeps its timer, so its deadline still bounds a run that ignores the cancellation.
 */
export class Job {
  readonly enqueuedAt = performance.now();
  readonly rows: number;
  private sig: string | undefined;
  settled = false;
  /** The request's trace (set by the scheduler; see batch-trace.ts). */
  trace: RequestTrace | undefined = undefined;
  /** Set while the job's run executes. */
  exec: Execution | undefined = undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly onAbort: () => void;
  private readonly unsubscribe: (() => void) | undefined;

  constructor(
    readonly call: PreparedCall,
    readonly priority: number,
    readonly transferable: boolean,
    private readonly resolveFn: (r: JobResult) => void,
    private readonly rejectFn: (e: ModelpipeError) => void,
    readonly cancel: Cancellation | undefined,
    timeoutMs: number,
    onDrop: (job: Job, timedOut: boolean) => void,
  ) {
    const first = call.inputs.values().next().value as Tensor | undefined;
    this.rows = first?.shape[0] ?? 1;
    this.onAbort = () => {
      this.reject(new ModelpipeError('MP_ERR_CANCELLED', 'request cancelled: the client went away'), this.exec !== undefined);
      onDrop(this, false);
    };
    this.unsubscribe = cancel?.onCancel(this.onAbort);
    if (timeoutMs > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.reject(new ModelpipeError('MP_ERR_TIMEOUT', `request timed out after ${timeoutMs} ms`));
        onDrop(this, true);
      }, timeoutMs);
      this.timer.unref();
    }
  }

  /** Requests with equal signatures may share a batch (computed only when batching looks at it). */
  get signature(): string {
    this.sig ??= callSignature(this.call);
    return this.sig;
  }

  private cleanup(keepTimer: boolean): void {
    this.settled = true;
    if (this.timer && !keepTimer) this.clearTimer();
    this.unsubscribe?.();
  }

  private clearTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Its run has settled: nothing more to watch. */
  finished(): void {
    this.exec = undefined;
    if (this.timer) this.clearTimer();
  }

  resolve(r: JobResult): void {
    if (this.settled) return;
    this.cleanup(false);
    this.resolveFn(r);
  }

  reject(e: ModelpipeError, keepTimer = false): void {
    if (this.settled) return;
    this.cleanup(keepTimer);
    this.rejectFn(e);
  }
}

/**
 * Requests merge only when their inputs have one batch signature (tensor/signature.ts:
 * names, dtypes, dimensions but the first) and they want the same outputs under the
 * same config.
 */
function callSignature(call: PreparedCall): string {
  return `${batchSignature(call.inputs)}|${JSON.stringify([call.outputNames, call.config])}`;
}
