import { type Context, ROOT_CONTEXT, type Span, defaultTextMapSetter, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { currentContext } from './run-context.js';
import { callSpan, failSpan, tracingOn } from './tracing.js';

/*
 * The trace an outgoing call carries (the client layer's HTTP and gRPC transports):
 * `traceparent` and `tracestate` of a client span when tracing is on, of the request
 * being served as it came when off.
 */

const w3c = new W3CTraceContextPropagator();

/** An outgoing call's trace headers, and its client span when tracing is on. */
export interface OutgoingTrace {
  readonly headers: Record<string, string>;
  readonly span: Span | undefined;
}

/**
 * The trace of a call about to go out: undefined when tracing is off and no traced
 * request is being served (nothing to send); otherwise the traceparent (and
 * tracestate) headers — of a new client span when on, of the incoming request as it
 * came when off (pass-through).
 */
export function outgoingTrace(method: string, url: string, explicit?: Context): OutgoingTrace | undefined {
  const parent = explicit ?? currentContext();
  const on = tracingOn();
  if (!on && parent === undefined) return undefined;
  const headers: Record<string, string> = {};
  if (!on) {
    w3c.inject(parent as Context, headers, defaultTextMapSetter);
    return { headers, span: undefined };
  }
  const under = parent ?? ROOT_CONTEXT;
  const span = callSpan(under, { 'http.request.method': method, 'url.full': url }) as Span;
  w3c.inject(trace.setSpan(under, span), headers, defaultTextMapSetter);
  return { headers, span };
}

/** Ends an outgoing call's span: with the answer's status, or failed. */
export function endOutgoing(o: OutgoingTrace | undefined, status: number | undefined, err?: unknown): void {
  const s = o?.span;
  if (s === undefined) return;
  if (status !== undefined) s.setAttribute('http.response.status_code', status);
  if (err !== undefined || (status !== undefined && status >= 400)) failSpan(s, err ?? { code: `HTTP ${status}` });
  s.end();
}
