import { type ErrorCode, ModelpipeError, toModelpipeError } from '../errors/index.js';
import type { Logger } from '../observe/logger.js';
import type { DeadLetter } from './handler.js';
import type { PipelineContext, Sink, StepStats } from './sink.js';

/** Where failed examples go: a sink, a callback, or (undefined) warning log lines. */
export type DeadLetterTarget = Sink<DeadLetter> | ((d: DeadLetter) => void | Promise<void>) | undefined;

/** Dead letters logged per pipeline when no dead-letter target is given. */
const LOGGED_DEAD_LETTERS = 20;

/**
 * One RunInference step's failure accounting: turns errors into dead letters, sends them
 * on, counts examples seen and failed, and aborts the run once the failure ratio is
 * exceeded (with the first errors in the message, so the abort says why).
 */
export class StepFailures {
  private seen = 0;
  private failed = 0;
  private readonly firstErrors: string[] = [];

  constructor(
    private readonly target: DeadLetterTarget,
    private readonly ctx: PipelineContext,
    private readonly stats: StepStats,
    private readonly keyed: boolean,
    private readonly log: Logger,
    private readonly ratio: { max?: number | undefined; minSeen: number },
  ) {}

  /** The dead letter for an example that failed at `stage`. */
  letter(it: { key: unknown; raw: unknown }, stage: DeadLetter['stage'], err: unknown, code: ErrorCode, modelId?: string): DeadLetter {
    const e = toModelpipeError(err, code);
    const d: DeadLetter = { example: it.raw, stage, error: { code: e.code, message: e.message } };
    if (this.keyed) d.key = it.key;
    if (modelId !== undefined) d.modelId = modelId;
    return d;
  }

  /** Counts `ok` examples that came through and sends `dead` on; throws past the failure ratio. */
  async settle(ok: number, dead: readonly DeadLetter[]): Promise<void> {
    this.seen += ok + dead.length;
    await this.send(dead);
    this.check();
  }

  private async send(batch: readonly DeadLetter[]): Promise<void> {
    if (batch.length === 0) return;
    this.failed += batch.length;
    this.stats.failedExamples += batch.length;
    this.ctx.deadLetterCount += batch.length;
    for (const d of batch) if (this.firstErrors.length < 5) this.firstErrors.push(`${d.stage}: ${d.error.code}: ${d.error.message}`);
    const dl = this.target;
    if (dl === undefined) {
      let n = this.ctx.deadLetterCount - batch.length;
      for (const d of batch) if (++n <= LOGGED_DEAD_LETTERS) this.log.warn({ stage: d.stage, error: d.error, key: d.key }, 'dead letter');
    } else if (typeof dl === 'function') {
      for (const d of batch) await dl(d);
    } else {
      await dl.write(batch);
    }
  }

  private check(): void {
    const { max, minSeen } = this.ratio;
    if (max === undefined || this.seen < minSeen || this.failed / this.seen <= max) return;
    const { seen, failed, stats } = this;
    throw new ModelpipeError(
      'MP_ERR_FAILURE_RATIO',
      `${stats.step}: ${failed} of ${seen} examples failed (${((100 * failed) / seen).toFixed(1)}% > max ${(100 * max).toFixed(1)}%); ` +
        `${stats.failedBatches} failed batches; first errors: ${this.firstErrors.join(' | ')}`,
    );
  }
}
