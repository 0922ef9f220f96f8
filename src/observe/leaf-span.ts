import { type Attributes, SpanKind, type TraceState } from '@opentelemetry/api';
import { type FinishedSpan, LEAF, type RecordedSpan, type SpanEvent, type SpanLink } from './span-record.js';

/*
 * A leaf child of a RecordedSpan (RecordedSpan.addLeaf) as the encoders read it: an
 * internal span under that span, in its trace, with its name, times, id and
 * attributes, and nothing else. One LeafSpan is pointed at each leaf in turn while its
 * parent's spans are encoded, so the request path's queue, compute and encode spans
 * cost five array entries each instead of a span object and a call per end.
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
  attributes: Attributes = NO_ATTRIBUTES;
  readonly events: readonly SpanEvent[] | undefined = undefined;
  readonly links: readonly SpanLink[] | undefined = undefined;
  readonly statusCode = 0;
  readonly statusMessage: string | undefined = undefined;
  readonly droppedAttributes = 0;
  readonly droppedEvents = 0;
  readonly droppedLinks = 0;

  /** Points this view at leaf `i` of `parent` (its entries from `i * LEAF`). */
  of(parent: RecordedSpan, i: number): this {
    const leaves = parent.leaves as NonNullable<RecordedSpan['leaves']>;
    const at = i * LEAF;
    this.name = leaves[at] as string;
    this.startMs = leaves[at + 1] as number;
    this.endMs = leaves[at + 2] as number;
    this.spanBytes = leaves[at + 3] as string;
    this.attributes = (leaves[at + 4] as Attributes | undefined) ?? NO_ATTRIBUTES;
    this.traceBytes = parent.traceBytes;
    this.parentBytes = parent.spanBytes;
    this.traceFlags = parent.traceFlags;
    this.traceState = parent.traceState;
    return this;
  }
}
