import { AsyncLocalStorage } from 'node:async_hooks';
import { type Attributes, type Context, type Span, trace } from '@opentelemetry/api';

/*
 * Where code running inside a model run finds the trace it continues, when it is not
 * handed one (RunRequest.trace, a client call's `trace` option): what a run's
 * outgoing calls (tracing.ts outgoingTrace), retry events and instance attributes
 * attach to. The synchronous part of a scheduler run finds its source in a slot;
 * only code that takes no context (RunInference's handlers, a library's own
 * runInTrace) runs under an AsyncLocalStorage: in Node 20 one such run makes every
 * later promise in the process pay for its hooks.
 */

/**
 * Where a run's outgoing calls find their parent (a BatchTrace): its context, which
 * may be built only when asked, and the span it holds, read without building it.
 */
export interface TraceSource {
  readonly context: Context;
  readonly span: Span | undefined;
  /** Sets an attribute on the source's span, which may still be only values (a BatchTrace's unasked compute span). */
  attribute?(key: string, value: string | number): void;
}

const active = new AsyncLocalStorage<Context>();

/** The trace source of a run that does not call out, for its synchronous part (see runInTrace). */
let syncSource: TraceSource | undefined;

/** The context a model run works under: the async one, else that of a synchronous run part. */
export function currentContext(): Context | undefined {
  return active.getStore() ?? syncSource?.context;
}

/** The span a model run works under (its compute span), without building a context for it. */
function currentSpan(): Span | undefined {
  const store = active.getStore();
  if (store !== undefined) return trace.getSpan(store);
  return syncSource === undefined ? undefined : (syncSource.span ?? trace.getSpan(syncSource.context));
}

/**
 * Runs `fn` with `ctx` as the context outgoing calls are traced under. With
 * `followAwaits` false (a model that never calls out) the context holds only while
 * `fn` runs synchronously — enough for what it records on its span — and no
 * AsyncLocalStorage is entered, so Node never installs its promise hooks.
 */
export function runInTrace<T>(ctx: Context, fn: () => T, followAwaits = true): T {
  return runUnder({ context: ctx, span: undefined }, fn, followAwaits);
}

/** runInTrace for a source whose context is built only if the run asks for it (a BatchTrace). */
export function runUnder<T>(source: TraceSource, fn: () => T, followAwaits: boolean): T {
  if (followAwaits) return active.run(source.context, fn);
  const prev = syncSource;
  syncSource = source;
  try {
    return fn();
  } finally {
    syncSource = prev;
  }
}

/** Adds an event to the span outgoing calls run under (a retry, a failover); nothing when untraced. */
export function traceEvent(name: string, attributes?: Attributes, explicit?: Context): void {
  const span = explicit !== undefined ? trace.getSpan(explicit) : currentSpan();
  span?.addEvent(name, attributes);
}

/** Sets an attribute on the span a model runs under (the compute span: its instance). */
export function traceAttribute(key: string, value: string | number): void {
  const sync = active.getStore() === undefined ? syncSource : undefined;
  if (sync?.attribute !== undefined) sync.attribute(key, value);
  else currentSpan()?.setAttribute(key, value);
}
