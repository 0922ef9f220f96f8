import { type RequestTrace, endRequest, failSpan, recordTrace } from '../observe/tracing.js';

/**
 * Trace context a pipeline record carries: a `traceparent` (and optional `tracestate`)
 * field of the record itself (a JSONL or HTTP-source JSON record) or of its Redis entry
 * (`fields.traceparent`). Only a string is taken; anything else leaves the record
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

/** The trace of one record entering a RunInference step (undefined when tracing is off and it carries none). */
export function traceOfRecord(raw: unknown): RequestTrace | undefined {
  const parent = field(raw, 'traceparent');
  return recordTrace(parent, parent === undefined ? undefined : field(raw, 'tracestate'));
}

/** Ends a record's span once the step is done with it: written on, or dead-lettered with `err`. */
export function endRecord(t: RequestTrace | undefined, err?: unknown): void {
  if (t?.span === undefined) return;
  if (err !== undefined) failSpan(t.span, err);
  endRequest(t);
}
