import type { TraceSource } from '../observe/run-context.js';
import type { TraceContext } from '../observe/tracing.js';
import { type Cancellation, NEVER_ABORTED } from './cancel.js';
import type { RunRequest } from '../models/model.js';
import type { Tensor } from '../tensor/index.js';
import type { Execution, Job } from './job.js';

/**
 * Where a run stands. RUNNING holds its instance slots. When every job of a run has
 * settled and one of them timed out, the run is overdue: ABANDONED gives its slots
 * back at once (bounded in number, see ModelScheduler), OVERDUE keeps them because
 * the bound was reached. Both count as stuck until the model's promise settles.
 */
export const RUNNING = 0;
export const ABANDONED = 1;
export const OVERDUE = 2;

/**
 * One model run: what the model sees (RunRequest) and, for the scheduler, the jobs
 * it serves and the slots it holds. Its AbortSignal is made only if the model asks
 * for it (a prototype getter, never spread). A run split over instances (fan-out)
 * is a head run that holds the jobs and slots, with one part per instance.
 */
export class Run implements RunRequest, Execution {
  state: number = RUNNING;
  parts: Run[] | undefined = undefined;

  constructor(
    readonly inputs: ReadonlyMap<string, Tensor>,
    readonly transferable: boolean,
    readonly outputNames: readonly string[],
    readonly config: string,
    private readonly cancel: Cancellation | undefined,
    readonly jobs: readonly Job[],
    readonly slots: number,
    /** Set once the run's trace is made; its context (RunRequest.trace) is built only if the model asks. */
    public traced: TraceSource | undefined = undefined,
  ) {}

  get trace(): TraceContext | undefined {
    return this.traced?.context;
  }

  get signal(): AbortSignal {
    return this.cancel?.signal ?? NEVER_ABORTED;
  }

  /**
   * Given up on: a lone request's run is told through its signal (a model that
   * honours it, such as a remote call, stops and settles). Its request has already
   * been answered, so its cancellation token has nothing else left to stop.
   */
  abort(): void {
    this.cancel?.cancel();
  }

  /** True once no job of this run waits for its result any more. */
  get unwaited(): boolean {
    for (const j of this.jobs) if (!j.settled) return false;
    return true;
  }
}
