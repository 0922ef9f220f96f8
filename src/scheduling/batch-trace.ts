import { type Attributes, type Context, type Link, type Span, trace } from '@opentelemetry/api';
import { type TraceSource, runUnder } from '../observe/run-context.js';
import { SPAN, type RequestTrace, endedChild, failSpan, spanBelow, tracingOn } from '../observe/tracing.js';

/** What batchTrace needs of a queued request: its trace and when it was queued (performance.now()). */
export interface Traced {
  readonly trace: RequestTrace | undefined;
  readonly enqueuedAt: number;
}

/**
 * The spans of one model run. Each traced request gets a queue span (from when it was
 * queued to when its batch started); a run of several requests is a batch span, child
 * of the first traced request and linked to every request merged into it, with a
 * compute span under it (a lone request's compute span is its own child) that the model's outgoing calls (a sequencing hop, a remote model) are
 * traced under. With tracing off but a request carrying a traceparent, only that
 * context is kept, so the run's outgoing calls pass it on.
 */
export class BatchTrace implements TraceSource {
  private ended = false;
  private made: Context | undefined;

  constructor(
    /** The first traced request's context, which the compute span's goes under (or, untraced, is passed through). */
    private readonly base: RequestTrace,
    private readonly batch: Span | undefined,
    private compute: Span | undefined,
    /**
     * A lone request's compute span while nothing has asked for it, as values: its
     * start (performance.now()) and attributes. Ended so, it is a leaf of the request
     * span (endedChild): no span object for the run of a model that neither calls out
     * nor records on its span.
     */
    private pending: { readonly start: number; readonly attributes: Attributes } | undefined = undefined,
  ) {}

  /** The context the run's outgoing calls continue: its compute span's (or the passed-through one), made when first asked. */
  get context(): Context {
    if (this.made === undefined) {
      const compute = this.span;
      this.made = compute === undefined ? this.base.ctx : trace.setSpan(this.base.ctx, compute);
    }
    return this.made;
  }

  /** The compute span, for what the run records on it (a retry event): made now if it was still values. */
  get span(): Span | undefined {
    const p = this.pending;
    if (p !== undefined) {
      this.pending = undefined;
      this.compute = spanBelow(this.base, SPAN.compute, p.start, p.attributes);
    }
    return this.compute;
  }

  /** An attribute of the compute span (its instance), kept with its values while it has no span object. */
  attribute(key: string, value: string | number): void {
    if (this.pending !== undefined) this.pending.attributes[key] = value;
    else this.span?.setAttribute(key, value);
  }

  /**
   * Runs the model's call under the run's trace. `followAwaits`: through an
   * AsyncLocalStorage, for code that takes no explicit context (RunInference's
   * handlers); false when the run gets it explicitly (the scheduler's RunRequest.trace).
   */
  run<T>(fn: () => T, followAwaits: boolean): T {
    return runUnder(this, fn, followAwaits);
  }

  /**
   * Ends the spans once (a failure after the run, splitting its outputs, ends them
   * failed if they are still open), at `at` (performance.now(), the caller's own clock
   * read) or now.
   */
  end(err?: unknown, at?: number): void {
    if (this.ended) return;
    this.ended = true;
    const p = this.pending;
    if (p !== undefined && err === undefined) {
      this.pending = undefined;
      endedChild(this.base, SPAN.compute, p.start, at ?? performance.now(), p.attributes);
      return;
    }
    const compute = this.span;
    if (err !== undefined) {
      failSpan(compute, err);
      failSpan(this.batch, err);
    }
    compute?.end(at);
    this.batch?.end(at);
  }
}

/** The trace of a run of `jobs` that starts now (`t0`, performance.now()); undefined when none is traced. */
export function batchTrace(jobs: readonly Traced[], rows: number, parts: number, t0: number): BatchTrace | undefined {
  let first: RequestTrace | undefined;
  for (const j of jobs) {
    if (j.trace !== undefined) {
      first = j.trace;
      break;
    }
  }
  if (first === undefined) return undefined;
  if (!tracingOn()) return new BatchTrace(first, undefined, undefined);
  const links: Link[] | undefined = jobs.length > 1 ? [] : undefined;
  for (const j of jobs) {
    if (j.trace === undefined) continue;
    endedChild(j.trace, SPAN.queue, j.enqueuedAt, t0);
    if (links === undefined) continue;
    const context = j.trace.span?.spanContext() ?? trace.getSpanContext(j.trace.ctx);
    if (context !== undefined) links.push({ context });
  }
  // A lone request needs no batch span (there is nothing to link): its compute span
  // sits under it directly, one span fewer to export per unbatched request.
  if (links === undefined) {
    const attributes: Attributes = { 'modelpipe.batch_requests': jobs.length, 'modelpipe.batch_rows': rows, 'modelpipe.instances': parts };
    return new BatchTrace(first, undefined, undefined, { start: t0, attributes });
  }
  const batch = spanBelow(first, SPAN.batch, t0, { 'modelpipe.batch_requests': jobs.length, 'modelpipe.batch_rows': rows }, links);
  if (batch === undefined) return undefined;
  // The batch's context is made only if the compute span cannot be made from the batch span directly.
  const under: RequestTrace = {
    get ctx() {
      return trace.setSpan(first.ctx, batch);
    },
    span: batch,
  };
  const compute = spanBelow(under, SPAN.compute, t0, { 'modelpipe.instances': parts });
  return new BatchTrace(first, batch, compute);
}
