import {
  type AttributeValue,
  type Attributes,
  type Exception,
  type Link,
  type Span,
  type SpanAttributes,
  type SpanContext,
  type SpanKind,
  type SpanStatus,
  type TimeInput,
  TraceFlags,
  type TraceState,
} from '@opentelemetry/api';
import { hexIdBytes, idHex } from './span-ids.js';
import { epochMs } from './span-time.js';

/*
 * A sampled span as modelpipe records it on the request path: plain fields set in
 * place, encoded to OTLP once, soon after it ends (span-shipper.ts, otlp/). The SDK's own
 * Span does more per call (hrtime arithmetic, limit objects, processor fan-out, a
 * ReadableSpan that its exporter converts twice more) than a ~80 µs request can afford
 * four times over. This one implements the same API interface, so contexts,
 * propagation and the rest of the code see an ordinary OpenTelemetry span.
 */

/** The OpenTelemetry SDK's default span limits (OTEL_SPAN_*_COUNT_LIMIT). */
export const LIMITS = { attributes: 128, events: 128, links: 128 } as const;

/** An event or a link as a finished span holds it (times in epoch ms). */
export interface SpanEvent {
  name: string;
  ms: number;
  attributes: Attributes | undefined;
}
export interface SpanLink {
  /** Id bytes, as a span's own (span-ids.ts). */
  traceBytes: string;
  spanBytes: string;
  traceFlags: number;
  remote: boolean;
  attributes: Attributes | undefined;
}

/**
 * What an encoder reads of an ended span (otlp/): fields, no methods. Ids are id
 * bytes, one char per byte (span-ids.ts).
 */
export interface FinishedSpan {
  readonly name: string;
  readonly kind: number;
  readonly traceBytes: string;
  readonly spanBytes: string;
  /** The parent's span id bytes; undefined for a root span. */
  readonly parentBytes: string | undefined;
  readonly parentRemote: boolean;
  readonly traceFlags: number;
  readonly traceState: TraceState | undefined;
  readonly startMs: number;
  readonly endMs: number;
  readonly attributes: Attributes;
  readonly events: readonly SpanEvent[] | undefined;
  readonly links: readonly SpanLink[] | undefined;
  readonly statusCode: number;
  readonly statusMessage: string | undefined;
  readonly droppedAttributes: number;
  readonly droppedEvents: number;
  readonly droppedLinks: number;
}

export type OnEnd = (span: RecordedSpan) => void;

/** Entries per leaf in RecordedSpan.leaves. */
export const LEAF = 5;

/**
 * A sampled span being recorded; once ended, the encoder reads it as a FinishedSpan
 * and it is dropped. The tracer sets its ids right after constructing it.
 */
export class RecordedSpan implements Span, FinishedSpan {
  traceBytes = '';
  spanBytes = '';
  parentBytes: string | undefined = undefined;
  parentRemote = false;
  /** A recorded span is a sampled one (an unsampled span is the API's non-recording span). */
  readonly traceFlags: number = TraceFlags.SAMPLED;
  traceState: TraceState | undefined = undefined;
  readonly attributes: Attributes = {};
  /**
   * Attributes stored so far: at least the keys held (a key set twice counts twice), so
   * below the limit no set looks its key up; at the limit the keys are counted.
   */
  private stored = 0;
  events: SpanEvent[] | undefined;
  links: SpanLink[] | undefined;
  statusCode = 0;
  statusMessage: string | undefined;
  droppedAttributes = 0;
  droppedEvents = 0;
  droppedLinks = 0;
  endMs = -1;
  /** The hex SpanContext, made the first time something asks (a traceparent, a link, a foreign API call). */
  private ctx: SpanContext | undefined = undefined;
  /**
   * Children that ended before this span, recorded as values only (name, startMs, endMs,
   * span id bytes, attributes or undefined; LEAF entries each): see addLeaf. Undefined
   * when there are none.
   */
  leaves: (string | number | Attributes | undefined)[] | undefined = undefined;

  constructor(
    public name: string,
    readonly kind: SpanKind,
    readonly startMs: number,
    private readonly onEnd: OnEnd,
  ) {}

  /** This span's trace id and its parent taken from `parent` (a child in the same trace). */
  under(parent: RecordedSpan): this {
    this.traceBytes = parent.traceBytes;
    this.parentBytes = parent.spanBytes;
    this.traceState = parent.traceState;
    return this;
  }

  /**
   * Records an ended child that carries nothing but its name, times and attributes
   * given at its start (the request path's queue, compute and encode spans): no span
   * object, no export of its own; it is encoded right after this span, when this one
   * ends (LeafSpan). False once this span has ended or holds LIMITS.events leaves: the
   * caller then makes an ordinary span. `attributes` is kept as given, not copied.
   */
  addLeaf(name: string, startMs: number, endMs: number, spanBytes: string, attributes?: Attributes): boolean {
    // Bounded as events are (a span holds at most that many leaves; past it, ordinary spans).
    if (this.endMs >= 0 || this.leafCount >= LIMITS.events) return false;
    this.leaves ??= [];
    this.leaves.push(name, startMs, Math.max(endMs, startMs), spanBytes, attributes);
    return true;
  }

  /** How many leaves this span holds. */
  get leafCount(): number {
    return this.leaves === undefined ? 0 : this.leaves.length / LEAF;
  }

  /** The sampler's trace state (it may change the parent's). */
  setTraceState(state: TraceState | undefined): void {
    this.traceState = state;
    this.ctx = undefined;
  }

  spanContext(): SpanContext {
    if (this.ctx === undefined) {
      const traceId = idHex(this.traceBytes);
      const spanId = idHex(this.spanBytes);
      this.ctx =
        this.traceState === undefined
          ? { traceId, spanId, traceFlags: this.traceFlags }
          : { traceId, spanId, traceFlags: this.traceFlags, traceState: this.traceState };
    }
    return this.ctx;
  }

  setAttribute(key: string, value: AttributeValue | undefined): this {
    if (this.endMs >= 0 || value === undefined || value === null) return this;
    // The request path sets five attributes a span: a key lookup each (a megamorphic `in`) cost more than the store.
    if (this.stored >= LIMITS.attributes && !Object.hasOwn(this.attributes, key)) {
      let held = 0;
      for (const _ in this.attributes) held++;
      this.stored = held;
      if (held >= LIMITS.attributes) {
        this.droppedAttributes++;
        return this;
      }
    }
    this.attributes[key] = value;
    this.stored++;
    return this;
  }

  setAttributes(attributes: SpanAttributes): this {
    if (this.stored === 0 && this.endMs < 0) return this.firstAttributes(attributes);
    for (const k in attributes) this.setAttribute(k, attributes[k]);
    return this;
  }

  /** The common case (a span's attributes given at its start): no key can repeat, so no lookups. */
  private firstAttributes(attributes: SpanAttributes): this {
    for (const k in attributes) {
      const v = attributes[k];
      if (v === undefined || v === null) continue;
      if (this.stored >= LIMITS.attributes) this.droppedAttributes++;
      else {
        this.attributes[k] = v;
        this.stored++;
      }
    }
    return this;
  }

  addEvent(name: string, attributesOrTime?: SpanAttributes | TimeInput, time?: TimeInput): this {
    if (this.endMs >= 0) return this;
    if (this.events === undefined) this.events = [];
    const list = this.events;
    if (list.length >= LIMITS.events) {
      this.droppedEvents++;
      return this;
    }
    const isTime = typeof attributesOrTime === 'number' || attributesOrTime instanceof Date || Array.isArray(attributesOrTime);
    const attributes = isTime ? undefined : (attributesOrTime as SpanAttributes | undefined);
    list.push({ name, ms: epochMs(isTime ? (attributesOrTime as TimeInput) : time), attributes });
    return this;
  }

  addLink(link: Link): this {
    if (this.endMs >= 0) return this;
    if (this.links === undefined) this.links = [];
    const list = this.links;
    if (list.length >= LIMITS.links) {
      this.droppedLinks++;
      return this;
    }
    const c = link.context;
    list.push({
      traceBytes: hexIdBytes(c.traceId),
      spanBytes: hexIdBytes(c.spanId),
      traceFlags: c.traceFlags,
      remote: c.isRemote === true,
      attributes: link.attributes,
    });
    return this;
  }

  addLinks(links: Link[]): this {
    for (const l of links) this.addLink(l);
    return this;
  }

  setStatus(status: SpanStatus): this {
    if (this.endMs >= 0) return this;
    // The API's rule: OK is final, and an UNSET never overrides an earlier status.
    if (this.statusCode === 1 || status.code === 0) return this;
    this.statusCode = status.code;
    this.statusMessage = status.message;
    return this;
  }

  updateName(name: string): this {
    if (this.endMs < 0) this.name = name;
    return this;
  }

  /** Ends the span once (a second end is ignored, as the SDK does). */
  end(endTime?: TimeInput): void {
    if (this.endMs >= 0) return;
    this.endMs = Math.max(epochMs(endTime), this.startMs);
    this.onEnd(this);
  }

  isRecording(): boolean {
    return this.endMs < 0;
  }

  recordException(exception: Exception, time?: TimeInput): void {
    const e = typeof exception === 'string' ? { message: exception } : exception;
    const attributes: Attributes = {};
    if (e.name !== undefined) attributes['exception.type'] = e.name;
    else if (e.code !== undefined) attributes['exception.type'] = String(e.code);
    if (e.message !== undefined) attributes['exception.message'] = e.message;
    if (e.stack !== undefined) attributes['exception.stacktrace'] = e.stack;
    this.addEvent('exception', attributes, time);
  }
}
