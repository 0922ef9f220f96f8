import { type Attributes, SpanKind, type TraceState } from '@opentelemetry/api';
import type { FinishedSpan, RecordedSpan, SpanEvent, SpanLink } from './span-record.js';

/*
 * A leaf child of a RecordedSpan (RecordedSpan.addLeaf) as the encoders read it: an
 * internal span under that span, in its trace, with its name, times and id, and
 * nothing else. One LeafSpan is pointed at each leaf in turn while its parent's spans
 * are encoded, so the request path's queue and encode spans cost four array entries
 * each instead of a span object, its attribute object and a call per end.
 */

const NO_ATTRIBUTES: Attributes = Object.freeze({});

export class LeafSpan implements FinishedSpan {
  name = '';
  readonly kind = SpanKind.INTERNAL;
  traceBytes = '';
  spanBytes = '';
  parentBytes: string | undefined = undefined;
  /** Its parent is a span of this process. */
  readonly parentRemote = false;
  traceFlags = 0;
  traceState: TraceState | undefined = undefined;
  startMs = 0;
  endMs = 0;
  readonly attributes = NO_ATTRIBUTES;
  readonly events: readonly SpanEvent[] | undefined = undefined;
  readonly links: readonly SpanLink[] | undefined = undefined;
  readonly statusCode = 0;
  readonly statusMessage: string | undefined = undefined;
  readonly droppedAttributes = 0;
  readonly droppedEvents = 0;
  readonly droppedLinks = 0;

  /** Points this view at leaf `i` of `parent` (its entries from `i * 4`). */
  of(parent: RecordedSpan, i: number): this {
    const leaves = parent.leaves as readonly (string | number)[];
    this.name = leaves[i * 4] as string;
    this.startMs = leaves[i * 4 + 1] as number;
    this.endMs = leaves[i * 4 + 2] as number;
    this.spanBytes = leaves[i * 4 + 3] as string;
    this.traceBytes = parent.traceBytes;
    this.parentBytes = parent.spanBytes;
    this.traceFlags = parent.traceFlags;
    this.traceState = parent.traceState;
    return this;
  }
}
