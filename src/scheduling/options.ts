/** Scheduling options of one served model (CLI flags and per-model config files map onto these). */
export interface BatchingOptions {
  /** Largest merged batch, in rows along dimension 0. */
  maxBatchSize: number;
  /** Longest a request waits for others to join its batch, in microseconds. */
  maxQueueDelayUs: number;
  /** Batch sizes worth dispatching at once without waiting out the delay. */
  preferredBatchSizes: number[];
}

export interface SchedulerOptions {
  /** Requests waiting beyond this are rejected at once with 503 + Retry-After. */
  maxQueueSize: number;
  /** Default per-request timeout in ms (0 = none). */
  timeoutMs: number;
  /** Dynamic batching; undefined = off. Ignored for models without a free batch dimension. */
  batching: BatchingOptions | undefined;
  /** Split a large batch across idle instances when nothing else is queued (see fanout.ts). */
  fanout: boolean;
  /**
   * Runs that outlived their timeout whose instance slots may be given back while
   * they have not settled (default: twice the model's instances). Past it the model
   * refuses requests with MP_ERR_MODEL_STUCK until stuck runs settle.
   */
  maxAbandonedRuns?: number;
}

export const DEFAULT_BATCHING: BatchingOptions = { maxBatchSize: 16, maxQueueDelayUs: 2000, preferredBatchSizes: [] };
export const DEFAULT_SCHEDULER: SchedulerOptions = { maxQueueSize: 1024, timeoutMs: 30_000, batching: undefined, fanout: true };
