import { type RequestTrace, endRequest, failSpan, recordTrace } from '../observe/tracing.js';

/**
 * Trace context a pipeline record carries: a `traceparent` (and optional `tracestate`)
 * field of the record itself (a JSONL or HTTP-source JSON record) or of its Redis entry
 * (`fields.traceparent`), else the headers of the HTTP-source POST it came in
 * (carryTrace). Only a string is taken; anything else leaves the record
 * untraced by its producer (with tracing on it starts a trace of its own).
 */
function field(raw: unknown, name: string): string | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const own = (raw as Record<string, unknown>)[name];
  if (typeof own === 'string') return own;
  const fields = (raw as { fields?: unknown }).fields;
  const f = fields !== null && typeof fields === 'object' ? (fields as Record<string, unknown>)[name] : undefined;
  return typeof f === 'string' ? f : undefined;
}

/** Records that came under a request's trace headers (the HTTP source's POSTs), by identity. */
const carried = new WeakMap<object, { traceparent: string; tracestate: string | undefined }>();

/**
 * Marks `record` as sent under a request's `traceparent` (and `tracestate`) headers:
 * the HTTP source calls it for each record of a POST. A record's own field, when it
 * has one, is more specific and wins. Only an object record can be marked (a bare
 * number or string in a JSON line stays untraced by its producer).
 */
export function carryTrace(record: unknown, traceparent: unknown, tracestate: unknown): void {
  if (typeof traceparent !== 'string' || record === null || typeof record !== 'object') return;
  carried.set(record, { traceparent, tracestate: typeof tracestate === 'string' ? tracestate : undefined });
}

/** The trace of one record entering a RunInference step (undefined when tracing is off and it carries none). */
export function traceOfRecord(raw: unknown): RequestTrace | undefined {
  const own = field(raw, 'traceparent');
  if (own !== undefined) return recordTrace(own, field(raw, 'tracestate'));
  const via = raw !== null && typeof raw === 'object' ? carried.get(raw) : undefined;
  return recordTrace(via?.traceparent, via?.tracestate);
}

/** Ends a record's span once the step is done with it: written on, or dead-lettered with `err`. */
export function endRecord(t: RequestTrace | undefined, err?: unknown): void {
  if (t?.span === undefined) return;
  if (err !== undefined) failSpan(t.span, err);
  endRequest(t);
}
