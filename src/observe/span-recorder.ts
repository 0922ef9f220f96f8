import {
  type Attributes,
  type Context,
  ROOT_CONTEXT,
  type Link,
  type Span,
  type SpanContext,
  SpanKind,
  type SpanOptions,
  TraceFlags,
  type Tracer,
  context as contextApi,
  isSpanContextValid,
  trace,
} from '@opentelemetry/api';
import { AlwaysOnSampler, ParentBasedSampler, type Sampler, SamplingDecision } from '@opentelemetry/sdk-trace-base';
import { hexIdBytes, randomIdBytes } from './span-ids.js';
import { type OnEnd, RecordedSpan } from './span-record.js';
import { epochMs } from './span-time.js';

/*
 * The Tracer behind modelpipe's spans: the SDK's sampling rules (the configured
 * Sampler decides, with the parent's context, exactly as BasicTracerProvider's tracer
 * does) but RecordedSpan for the sampled spans, with ids as bytes from a pooled
 * random buffer (span-ids.ts), and a context-free path for the request's own children.
 */

/** Where span and trace ids come from when not from the random pool (a test gives a fixed sequence). */
export interface IdSource {
  traceId(): string;
  spanId(): string;
}

// Shared empties for the sampler's arguments: no allocation per span for what is absent.
const NO_LINKS: Link[] = [];
const NO_ATTRIBUTES: Attributes = Object.freeze({});

/** Whether `sampler` samples every child of a sampled span of this process without looking at it. */
function keepsSampledChildren(sampler: Sampler): boolean {
  if (sampler instanceof AlwaysOnSampler) return true;
  return sampler instanceof ParentBasedSampler && sampler.toString().includes('localParentSampled=AlwaysOnSampler,');
}

export class RecordingTracer implements Tracer {
  /** always_on: nothing to ask. */
  private readonly keepsAll: boolean;
  /** always_on and every parentbased_* sampler: a child of a sampled local span is sampled. */
  private readonly keepsChildren: boolean;

  constructor(
    private readonly sampler: Sampler,
    private readonly onEnd: OnEnd,
    private readonly ids?: IdSource,
  ) {
    this.keepsAll = sampler instanceof AlwaysOnSampler;
    this.keepsChildren = keepsSampledChildren(sampler);
  }

  startSpan(name: string, options: SpanOptions = {}, ctx: Context = contextApi.active()): Span {
    const parentSpan = options.root ? undefined : trace.getSpan(ctx);
    const own = parentSpan instanceof RecordedSpan ? parentSpan : undefined;
    const foreignCtx = own === undefined ? parentSpan?.spanContext() : undefined;
    const foreign = foreignCtx !== undefined && isSpanContextValid(foreignCtx) ? foreignCtx : undefined;
    const kind = options.kind ?? SpanKind.INTERNAL;
    const links = options.links ?? NO_LINKS;
    const span = new RecordedSpan(name, kind, epochMs(options.startTime), this.onEnd);
    // The span id before the trace id, in the SDK's order (a test compares the two with one id sequence).
    this.spanIdOf(span);
    if (own !== undefined) span.under(own);
    else if (foreign !== undefined) {
      span.traceBytes = hexIdBytes(foreign.traceId);
      span.parentBytes = hexIdBytes(foreign.spanId);
      span.parentRemote = foreign.isRemote === true;
      span.traceState = foreign.traceState;
    } else this.traceIdOf(span);
    if (!(this.keepsAll || (own !== undefined && this.keepsChildren))) {
      const sc = span.spanContext();
      const sampled = this.sampler.shouldSample(ctx, sc.traceId, name, kind, options.attributes ?? NO_ATTRIBUTES, links);
      const traceState = sampled.traceState ?? span.traceState;
      if (sampled.decision !== SamplingDecision.RECORD_AND_SAMPLED) {
        // Not exported: a non-recording span still carries the ids (and the unsampled flag) on to the next hop.
        const out: SpanContext = { traceId: sc.traceId, spanId: sc.spanId, traceFlags: TraceFlags.NONE };
        if (traceState !== undefined) out.traceState = traceState;
        return trace.wrapSpanContext(out);
      }
      if (traceState !== span.traceState) span.setTraceState(traceState);
      if (options.attributes !== undefined) span.setAttributes(options.attributes);
      if (sampled.attributes !== undefined) span.setAttributes(sampled.attributes);
    } else if (options.attributes !== undefined) span.setAttributes(options.attributes);
    if (links.length > 0) span.addLinks(links);
    return span;
  }

  /**
   * startSpan(name, { kind, attributes, startTime: startMs }, ROOT_CONTEXT): a new
   * trace's root (a request that carried no traceparent), with no context to read when
   * every span is sampled.
   */
  root(name: string, kind: SpanKind, attributes: Attributes, startMs: number): Span {
    if (!this.keepsAll) return this.startSpan(name, { kind, attributes, startTime: startMs }, ROOT_CONTEXT);
    const span = new RecordedSpan(name, kind, startMs, this.onEnd);
    this.spanIdOf(span);
    this.traceIdOf(span);
    return span.setAttributes(attributes);
  }

  /**
   * A span under `parent`, a sampled span of this process (the request path's queue,
   * batch, compute and encode spans): no context to make or read, and no sampler to ask
   * when the sampler keeps such children anyway.
   */
  child(parent: RecordedSpan, name: string, startMs: number, attributes?: Attributes, links?: Link[]): Span {
    if (!this.keepsChildren) {
      const options: SpanOptions = { startTime: startMs };
      if (attributes !== undefined) options.attributes = attributes;
      if (links !== undefined) options.links = links;
      return this.startSpan(name, options, trace.setSpan(ROOT_CONTEXT, parent));
    }
    const span = new RecordedSpan(name, SpanKind.INTERNAL, startMs, this.onEnd);
    this.spanIdOf(span);
    span.under(parent);
    if (attributes !== undefined) span.setAttributes(attributes);
    if (links !== undefined) span.addLinks(links);
    return span;
  }

  /**
   * An ended child of `parent` with only a name, times and attributes, kept on the
   * parent as a leaf (RecordedSpan.addLeaf) when the sampler keeps such children
   * anyway. False when it cannot be (another sampler, or the parent has ended): the
   * caller makes an ordinary span instead.
   */
  leaf(parent: RecordedSpan, name: string, startMs: number, endMs: number, attributes?: Attributes): boolean {
    // isRecording first: no id drawn for a leaf its ended parent would refuse.
    return this.keepsChildren && parent.isRecording() && parent.addLeaf(name, startMs, endMs, this.newSpanId(), attributes);
  }

  private newSpanId(): string {
    return this.ids === undefined ? randomIdBytes(8) : hexIdBytes(this.ids.spanId());
  }

  private spanIdOf(span: RecordedSpan): void {
    span.spanBytes = this.newSpanId();
  }

  private traceIdOf(span: RecordedSpan): void {
    span.traceBytes = this.ids === undefined ? randomIdBytes(16) : hexIdBytes(this.ids.traceId());
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...args: unknown[]): ReturnType<F> {
    const fn = args[args.length - 1] as F;
    const options = (args.length > 1 ? args[0] : undefined) as SpanOptions | undefined;
    const ctx = (args.length > 2 ? args[1] : contextApi.active()) as Context;
    const span = this.startSpan(name, options, ctx);
    return contextApi.with(trace.setSpan(ctx, span), () => fn(span)) as ReturnType<F>;
  }
}
