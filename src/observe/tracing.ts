import {
  type Attributes,
  type Context,
  type Link,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  type SpanOptions,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { Counter } from 'prom-client';
import { addProcessMetrics } from './metrics.js';
import { RecordedSpan } from './span-record.js';
import { nowMs, perfMs } from './span-time.js';
import type { RecordingTracer } from './span-recorder.js';
import type { SpanShipper, TracingStats } from './span-shipper.js';
import { EXPORT_DEFAULTS } from './export-batching.js';
import type { TraceConfig } from './trace-config.js';

/*
 * OpenTelemetry tracing for the whole process. Off (the default) there is no
 * provider: every helper below first checks `tracer` and returns undefined, so a
 * request without a traceparent header allocates nothing for tracing. An incoming
 * traceparent with tracing off is passed through unchanged to the calls the request
 * makes (what Triton and KServe do), so a traced caller keeps its trace across an
 * untraced hop. Contexts are carried explicitly: InferCall.trace and the scheduler's
 * jobs to a model run, RunRequest.trace into it, a client call's `trace` option out of
 * it (outgoingTrace). The synchronous part of a run also finds its context in a slot
 * (runInTrace with followAwaits false). Only code that takes no context (RunInference's
 * handlers, a library's own runInTrace) runs under an AsyncLocalStorage: in Node 20
 * one such run makes every later promise in the process pay for its hooks.
 */

let tracer: RecordingTracer | undefined;
let shipper: SpanShipper | undefined;
const w3c = new W3CTraceContextPropagator();

/** A trace context as calls carry it explicitly (RunRequest.trace, a client call's `trace`). */
export type TraceContext = Context;

/** Span names (docs/tracing.md lists them with their attributes). */
export const SPAN = {
  request: 'modelpipe.request',
  queue: 'modelpipe.queue',
  batch: 'modelpipe.batch',
  compute: 'modelpipe.compute',
  encode: 'modelpipe.encode',
  call: 'modelpipe.call',
  classify: 'modelpipe.classify',
  record: 'modelpipe.record',
} as const;

/** A request's trace: the context its work runs under, and its own span when tracing is on. */
export interface RequestTrace {
  readonly ctx: Context;
  readonly span: Span | undefined;
}

/** A traced request: its context (what its span is under, plus the span) is made only if something asks for it. */
class TracedRequest implements RequestTrace {
  private made: Context | undefined = undefined;

  constructor(
    private readonly parent: Context,
    readonly span: Span,
    /** The body's size: set last (sizes()), so the attributes that repeat stay one copy in encoding (otlp/span-shapes.ts). */
    private requestBytes = -1,
  ) {}

  get ctx(): Context {
    if (this.made === undefined) this.made = trace.setSpan(this.parent, this.span);
    return this.made;
  }

  /** Sets the request's size on its span, once, before the response's (encoded(), endRequest()). */
  sizes(): void {
    if (this.requestBytes < 0) return;
    this.span.setAttribute('modelpipe.request_bytes', this.requestBytes);
    this.requestBytes = -1;
  }
}

/** Reads a header from Node's IncomingHttpHeaders, http2 headers or a plain record. */
type Headers = Readonly<Record<string, string | string[] | number | undefined>>;

const headerGetter: TextMapGetter<Headers> = {
  keys: (h) => Object.keys(h),
  get: (h, k) => {
    const v = h[k];
    return typeof v === 'number' ? String(v) : v;
  },
};

export function tracingOn(): boolean {
  return tracer !== undefined;
}

/** Starts exporting spans as `config` says (replacing an earlier provider). */
export async function startTracing(config: TraceConfig): Promise<void> {
  await stopTracing();
  // Loaded only when tracing starts: the OTLP transport, its serializers and the SDK's
  // samplers would otherwise add to the start-up of every process, traced or not.
  const [{ SpanShipper }, { RecordingTracer }] = await Promise.all([import('./span-shipper.js'), import('./span-recorder.js')]);
  // Short delay by default: a hop's spans should reach the collector soon after its request.
  shipper = new SpanShipper(
    { url: config.url, serviceName: config.serviceName, resource: config.resource, protocol: config.protocol },
    config.scheduleDelayMs ?? 500,
    config.maxExportBatch ?? EXPORT_DEFAULTS.batch,
    config.maxQueue ?? EXPORT_DEFAULTS.queue,
  );
  tracer = new RecordingTracer(config.sampler, shipEnded);
}

/**
 * Where every sampled span goes when it ends: the shipper of now (none once tracing
 * stopped: a span that outlives its tracing is dropped). One function for every
 * start of tracing, so code optimized while one shipper ran still holds after a restart
 * (a closure per shipper was a new call target: deoptimized, compiled again).
 */
function shipEnded(span: RecordedSpan): void {
  shipper?.onEnd(span);
}

/** Span counts since tracing started; undefined when it is off. */
export function tracingStats(): TracingStats | undefined {
  return shipper?.stats();
}

// In every server's /metrics: what became of the sampled spans (none while tracing is off).
addProcessMetrics((registry) => {
  new Counter({
    name: 'modelpipe_trace_spans_total',
    help: 'Sampled spans by outcome: ended, exported, dropped (more waited for the collector than the bound), failed (their export failed)',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      const s = shipper?.stats();
      if (s) for (const outcome of ['ended', 'exported', 'dropped', 'failed'] as const) this.inc({ outcome }, s[outcome]);
    },
  });
});

/**
 * Ends tracing: spans still queued are exported, within `timeoutMs` (a collector that
 * is down must not hold up a SIGTERM drain); after that the process is untraced.
 */
export async function stopTracing(timeoutMs = 5000): Promise<void> {
  const p = shipper;
  shipper = undefined;
  tracer = undefined;
  if (p === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((r) => {
    timer = setTimeout(r, timeoutMs);
  });
  await Promise.race([p.shutdown().catch(() => {}), deadline]);
  clearTimeout(timer);
}

/** Exports the spans ended so far (tests, and before a process exits). */
export async function flushTracing(): Promise<void> {
  await shipper?.flush();
}

/**
 * A request's trace from its headers (HTTP or gRPC metadata): undefined when tracing
 * is off and no traceparent came, a pass-through context when off with one, a server
 * span child of the caller's span when on, from `startedAt` (performance.now(), when
 * the server began the request: its clock read, none of tracing's own) or now.
 */
export function requestTrace(headers: Headers, protocol: string, bytes?: number, startedAt?: number): RequestTrace | undefined {
  const t = tracer;
  const carried = headers.traceparent !== undefined;
  if (t === undefined) return carried ? { ctx: w3c.extract(ROOT_CONTEXT, headers, headerGetter), span: undefined } : undefined;
  const parent = carried ? w3c.extract(ROOT_CONTEXT, headers, headerGetter) : ROOT_CONTEXT;
  const attributes = { 'modelpipe.protocol': protocol };
  const start = startedAt === undefined ? nowMs() : perfMs(startedAt);
  const span = carried
    ? t.startSpan(SPAN.request, { kind: SpanKind.SERVER, attributes, startTime: start }, parent)
    : t.root(SPAN.request, SpanKind.SERVER, attributes, start);
  return new TracedRequest(parent, span, bytes);
}

/**
 * A request answered with an error before its frontend traced it (refused by a limit
 * or a token, or its body unreadable or undecodable): a failed request span with the
 * error's code, when tracing is on. Off, nothing: such a request makes no calls.
 */
export function refusedRequest(headers: Headers, protocol: string, err: unknown): void {
  if (tracer === undefined) return;
  const t = requestTrace(headers, protocol);
  failSpan(t?.span, err);
  endRequest(t);
}

/** A record's trace in a pipeline: continues `traceparent` (and `tracestate`) when the record carries one. */
export function recordTrace(traceparent: string | undefined, tracestate?: string): RequestTrace | undefined {
  if (tracer === undefined && traceparent === undefined) return undefined;
  const headers: Record<string, string> = traceparent === undefined ? {} : { traceparent };
  if (tracestate !== undefined) headers.tracestate = tracestate;
  if (tracer === undefined) return { ctx: w3c.extract(ROOT_CONTEXT, headers, headerGetter), span: undefined };
  const parent = traceparent === undefined ? ROOT_CONTEXT : w3c.extract(ROOT_CONTEXT, headers, headerGetter);
  return new TracedRequest(parent, tracer.startSpan(SPAN.record, { kind: SpanKind.CONSUMER }, parent));
}

/** The trace of a client command's whole run (`classy`): a root span, undefined when tracing is off. */
export function commandTrace(name: string, attributes: Attributes): RequestTrace | undefined {
  if (tracer === undefined) return undefined;
  return new TracedRequest(ROOT_CONTEXT, tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, ROOT_CONTEXT));
}

/** What the engine resolved a request to: its model entry and version. */
export function tagRequest(span: Span, model: string, version: string): void {
  span.setAttribute('modelpipe.model', model);
  span.setAttribute('modelpipe.model_version', version);
}

/** Marks a span failed with the error's stable code (ModelpipeError) or name. */
export function failSpan(span: Span | undefined, err: unknown): void {
  if (span === undefined) return;
  const code = (err as { code?: unknown })?.code;
  span.setAttribute('modelpipe.outcome', typeof code === 'string' ? code : ((err as Error)?.name ?? 'Error'));
  span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message ?? String(err) });
}

/** Ends a request's span (its outcome: "ok" set by the engine, or the error code set by failSpan). */
export function endRequest(t: RequestTrace | undefined): void {
  if (t instanceof TracedRequest) t.sizes();
  t?.span?.end();
}

/**
 * A span under a request's (or a batch's) span, starting at `start` (performance.now(),
 * or now): through the tracer's context-free path when the parent is a sampled span
 * of ours, else under the request's context.
 */
export function spanBelow(
  t: RequestTrace,
  name: string,
  start: number | undefined,
  attributes?: Attributes,
  links?: Link[],
): Span | undefined {
  const tr = tracer;
  if (tr === undefined) return undefined;
  const parent = t.span;
  if (parent instanceof RecordedSpan) return tr.child(parent, name, start === undefined ? nowMs() : perfMs(start), attributes, links);
  const options: SpanOptions = {};
  if (start !== undefined) options.startTime = start;
  if (attributes !== undefined) options.attributes = attributes;
  if (links !== undefined) options.links = links;
  return tr.startSpan(name, options, t.ctx);
}

/**
 * A child of a request's span that ran from `start` to `end` (performance.now()
 * readings) and carries nothing but `attributes` (queue, an unasked compute span,
 * encode; a few, none undefined: they are kept as given). Under a sampled span of ours
 * it is a leaf of that span, encoded when the request span ends; otherwise an ordinary span.
 */
export function endedChild(t: RequestTrace, name: string, start: number, end: number, attributes?: Attributes): void {
  const tr = tracer;
  if (tr === undefined) return;
  const parent = t.span;
  if (parent instanceof RecordedSpan && tr.leaf(parent, name, perfMs(start), perfMs(end), attributes)) return;
  spanBelow(t, name, start, attributes)?.end(end);
}

/** A request's encode span (from `start` to `end`, performance.now()); the response's size goes on the request span. */
export function encoded(t: RequestTrace, start: number, end: number, chunks: readonly Uint8Array[]): void {
  if (t.span === undefined) return;
  let n = 0;
  for (const c of chunks) n += c.byteLength;
  if (t instanceof TracedRequest) t.sizes();
  t.span.setAttribute('modelpipe.response_bytes', n);
  endedChild(t, SPAN.encode, start, end);
}

/** An outgoing call's client span under `parent` (outgoing-trace.ts); undefined when tracing is off. */
export function callSpan(parent: Context, attributes: Attributes): Span | undefined {
  return tracer?.startSpan(SPAN.call, { kind: SpanKind.CLIENT, attributes }, parent);
}
