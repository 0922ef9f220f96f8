import { randomFillSync } from 'node:crypto';
import {
  type Attributes,
  type Context,
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
import { type Sampler, SamplingDecision } from '@opentelemetry/sdk-trace-base';
import { type OnEnd, RecordedSpan, epochMs, nowMs } from './span-record.js';

/*
 * The Tracer behind modelpipe's spans: the SDK's sampling rules (the configured
 * Sampler decides, with the parent's context, exactly as BasicTracerProvider's tracer
 * does) but RecordedSpan for the sampled spans, and ids cut from a pooled random
 * buffer (one getrandom per 256 spans, not Math.random per byte).
 */

const POOL = 4096;
let pool = Buffer.alloc(0);
let at = POOL;

function randomHex(bytes: number): string {
  if (at + bytes > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL));
    at = 0;
  }
  let zero = true;
  for (let i = at; i < at + bytes && zero; i++) zero = pool[i] === 0;
  const s = pool.toString('hex', at, at + bytes);
  at += bytes;
  // All-zero ids are invalid (W3C); at 2^-64 odds, draw again rather than ship one.
  return zero ? randomHex(bytes) : s;
}

/** Where span and trace ids come from (a test gives a fixed sequence). */
export interface IdSource {
  traceId(): string;
  spanId(): string;
}

const randomIds: IdSource = { traceId: () => randomHex(16), spanId: () => randomHex(8) };

// Shared empties for the sampler's arguments: no allocation per span for what is absent.
const NO_LINKS: Link[] = [];
const NO_ATTRIBUTES: Attributes = Object.freeze({});

export class RecordingTracer implements Tracer {
  constructor(
    private readonly sampler: Sampler,
    private readonly onEnd: OnEnd,
    private readonly ids: IdSource = randomIds,
  ) {}

  startSpan(name: string, options: SpanOptions = {}, ctx: Context = contextApi.active()): Span {
    const parentSpan = options.root ? undefined : trace.getSpan(ctx);
    const parent = parentSpan?.spanContext();
    // A span of ours has valid ids by construction; only a remote or foreign one is checked.
    const hasParent = parent !== undefined && (parentSpan instanceof RecordedSpan || isSpanContextValid(parent));
    const spanId = this.ids.spanId(); // before the trace id, in the SDK's order (a test compares the two with one id sequence)
    const traceId = hasParent ? parent.traceId : this.ids.traceId();
    const kind = options.kind ?? SpanKind.INTERNAL;
    const links = options.links ?? NO_LINKS;
    const sampled = this.sampler.shouldSample(ctx, traceId, name, kind, options.attributes ?? NO_ATTRIBUTES, links);
    const traceState = sampled.traceState ?? (hasParent ? parent.traceState : undefined);
    const spanContext: SpanContext =
      traceState === undefined
        ? { traceId, spanId, traceFlags: TraceFlags.NONE }
        : { traceId, spanId, traceFlags: TraceFlags.NONE, traceState };
    if (sampled.decision !== SamplingDecision.RECORD_AND_SAMPLED) {
      // Not exported: a non-recording span still carries the ids (and the unsampled flag) on to the next hop.
      return trace.wrapSpanContext(spanContext);
    }
    spanContext.traceFlags = TraceFlags.SAMPLED;
    const span = new RecordedSpan(
      spanContext,
      name,
      kind,
      hasParent ? parent : undefined,
      epochMs(options.startTime ?? nowMs()),
      this.onEnd,
    );
    if (options.attributes !== undefined) span.setAttributes(options.attributes);
    if (sampled.attributes !== undefined) span.setAttributes(sampled.attributes);
    if (links.length > 0) span.addLinks(links);
    return span;
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...args: unknown[]): ReturnType<F> {
    const fn = args[args.length - 1] as F;
    const options = (args.length > 1 ? args[0] : undefined) as SpanOptions | undefined;
    const ctx = (args.length > 2 ? args[1] : contextApi.active()) as Context;
    const span = this.startSpan(name, options, ctx);
    return contextApi.with(trace.setSpan(ctx, span), () => fn(span)) as ReturnType<F>;
  }
}
