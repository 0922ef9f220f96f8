import type { Attributes } from '@opentelemetry/api';
import type { LeafSpan } from '../leaf-span.js';
import type { FinishedSpan, RecordedSpan } from '../span-record.js';

/*
 * An OTLP trace encoding (http/protobuf or http/json). Spans are encoded soon after
 * they end (span-shipper.ts holds at most 64), a span with its leaves as one family
 * (addFamily: protobuf copies one that repeats, span-family.ts), into the encoder's
 * open batch; `take` closes the batch as an ExportTraceServiceRequest with the
 * process's resource and modelpipe's instrumentation scope. So a span is converted
 * once, on the thread that ended it, and not held as an object until export.
 */

/** Encoded spans as one export request's body, and how many. */
export interface SpanBatch {
  readonly body: Uint8Array;
  readonly count: number;
}

export interface SpanEncoding {
  readonly contentType: string;
  /** Appends one ended span to the open batch. */
  add(span: FinishedSpan): void;
  /** Appends an ended span and its leaves (RecordedSpan.addLeaf), each read through `leaf`, to the open batch. */
  addFamily(span: RecordedSpan, leaf: LeafSpan): void;
  /** How many spans the open batch holds. */
  readonly pending: number;
  /** Closes the open batch as one ExportTraceServiceRequest (undefined when empty) and starts a new one. */
  take(): SpanBatch | undefined;
  /** Its export is answered: the batch's memory may be written again. */
  release(batch: SpanBatch): void;
}

/** Who exports (OTLP Resource and InstrumentationScope). */
export interface Origin {
  readonly resource: Attributes;
  readonly scope: { readonly name: string; readonly version?: string };
}

/** Span flags: the W3C trace flags, with "has is_remote" and "is_remote" (the OTLP spec's bits 8 and 9). */
export function spanFlags(traceFlags: number, parentRemote: boolean | undefined): number {
  return (traceFlags & 0xff) | 0x100 | (parentRemote ? 0x200 : 0);
}
