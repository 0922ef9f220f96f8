import type { ExportResult } from '@opentelemetry/core';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { Origin, SpanBatch, SpanEncoding } from './otlp/encoding.js';
import { JsonEncoding } from './otlp/json-encoding.js';
import { ProtobufEncoding } from './otlp/protobuf-encoding.js';
import { LeafSpan } from './leaf-span.js';
import type { FinishedSpan, RecordedSpan } from './span-record.js';

/*
 * Takes ended spans from the request path, encodes each once into the open batch, and
 * every `delayMs` (or at `maxBatch` spans) hands the batch to the official OTLP/HTTP
 * transport (@opentelemetry/otlp-exporter-base), which POSTs it with every
 * OTEL_EXPORTER_OTLP_* setting applied (headers, timeout, compression, certificates)
 * and retries what the spec says to retry. What waits is bounded: at most `maxQueue`
 * spans across batches not yet sent; past that, spans are dropped and counted, so a
 * collector that is slow or down costs spans, never the server's memory.
 */

/** Ended spans held to be encoded together (onEnd). */
const HOLD = 64;

export interface ExportSettings {
  url: string;
  serviceName: string;
  /** Further resource attributes (OTEL_RESOURCE_ATTRIBUTES). */
  resource?: Readonly<Record<string, string>> | undefined;
  protocol: 'http/json' | 'http/protobuf';
}

/** Span counts since tracing started: ended (sampled), dropped, exported, failed to export. */
export interface TracingStats {
  ended: number;
  dropped: number;
  exported: number;
  failed: number;
}

export class SpanShipper {
  private readonly encoding: SpanEncoding;
  private readonly exporter: OTLPExporterBase<SpanBatch>;
  private timer: NodeJS.Timeout | undefined;
  /** Spans handed to the transport and not yet answered. */
  private inFlight = 0;
  private readonly counts: TracingStats = { ended: 0, dropped: 0, exported: 0, failed: 0 };
  private readonly sends = new Set<Promise<void>>();
  /** Ended spans not yet encoded (at most HOLD). */
  private readonly held: RecordedSpan[] = [];
  /** The held spans and their leaves. */
  private heldSpans = 0;
  /** The view each leaf of an ended span is encoded through (encoding copies what it reads). */
  private readonly leaf = new LeafSpan();

  constructor(
    settings: ExportSettings,
    private readonly delayMs: number,
    private readonly maxBatch: number,
    private readonly maxQueue: number,
  ) {
    const origin: Origin = { resource: { ...settings.resource, 'service.name': settings.serviceName }, scope: { name: 'modelpipe' } };
    this.encoding = settings.protocol === 'http/protobuf' ? new ProtobufEncoding(origin) : new JsonEncoding(origin);
    const encoding = this.encoding;
    // The collector's answer (a partial success, logged by the transport) is read by the official serializer of the same encoding.
    const answers = settings.protocol === 'http/protobuf' ? ProtobufTraceSerializer : JsonTraceSerializer;
    const serializer = {
      serializeRequest: (batch: SpanBatch) => batch.body,
      deserializeResponse: (data: Uint8Array) => answers.deserializeResponse(data),
    };
    const options = convertLegacyHttpOptions({ url: settings.url }, 'TRACES', 'v1/traces', { 'Content-Type': encoding.contentType });
    const metrics = { name: 'span' as const, countItems: (b: SpanBatch) => b.count };
    this.exporter = new OTLPExporterBase(
      createOtlpHttpExportDelegate(options, serializer, 'modelpipe_otlp_http_span_exporter', metrics, undefined),
    );
  }

  /**
   * A span ended on the request path: held, and encoded with the others held when
   * HOLD have ended, when the export timer fires or on a flush. Encoding each span as
   * it ends runs the encoder cold, between a request's other work; in the server,
   * encoding HOLD in one go cost ~4 points of throughput less (bench/RESULTS.md, seventh
   * round). Spans leave on that timer or in full batches anyway, so holding delays nothing.
   * A method, not a closure per shipper: the request path's optimized code calls it
   * through one function (tracing.ts), and a new shipper must not be a new call target.
   */
  onEnd(span: RecordedSpan): void {
    const n = 1 + span.leafCount;
    this.counts.ended += n;
    // The bound counts spans held, encoded and in flight; a span and its leaves are kept or dropped together.
    if (this.inFlight + this.encoding.pending + this.heldSpans + n > this.maxQueue) {
      this.counts.dropped += n;
      return;
    }
    this.heldSpans += n;
    this.held.push(span);
    if (this.held.length >= HOLD) this.encodeHeld();
    else if (this.timer === undefined) this.arm();
  }

  /** Encodes the held spans, each followed by its leaves (RecordedSpan.addLeaf), into the open batch. */
  private encodeHeld(): void {
    const held = this.held;
    for (let i = 0; i < held.length; i++) this.addFamily(held[i] as RecordedSpan);
    held.length = 0;
    this.heldSpans = 0;
  }

  /** A span and its leaves, in one batch when they fit in one (they are encoded as one unit: otlp/span-family.ts). */
  private addFamily(span: RecordedSpan): void {
    const n = 1 + span.leafCount;
    if (n > this.maxBatch) {
      this.add(span);
      for (let j = 1; j < n; j++) this.add(this.leaf.of(span, j - 1));
      return;
    }
    if (this.encoding.pending + n > this.maxBatch) this.send();
    this.encoding.addFamily(span, this.leaf);
    if (this.encoding.pending >= this.maxBatch) this.send();
    else if (this.timer === undefined) this.arm();
  }

  private arm(): void {
    this.timer = setTimeout(() => this.ship(), this.delayMs);
    this.timer.unref();
  }

  private add(span: FinishedSpan): void {
    this.encoding.add(span);
    if (this.encoding.pending >= this.maxBatch) this.send();
    else if (this.timer === undefined) this.arm();
  }

  stats(): TracingStats {
    return { ...this.counts };
  }

  /** Sends what waits and resolves when every send so far is answered (or has failed). */
  async flush(): Promise<void> {
    this.ship();
    await Promise.all([...this.sends]);
  }

  /** Flushes, then shuts the transport down (the caller bounds the wait). */
  async shutdown(): Promise<void> {
    await this.flush();
    await this.exporter.shutdown();
  }

  /** Encodes what is held and sends the open batch. */
  private ship(): void {
    this.encodeHeld();
    this.send();
  }

  private send(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.encoding.take();
    if (batch === undefined) return;
    this.inFlight += batch.count;
    const sent = new Promise<void>((resolve) => {
      this.exporter.export(batch, (result: ExportResult) => {
        this.inFlight -= batch.count;
        this.encoding.release(batch);
        if (result.code === 0) this.counts.exported += batch.count;
        else this.counts.failed += batch.count;
        resolve();
      });
    });
    this.sends.add(sent);
    void sent.then(() => this.sends.delete(sent));
  }
}
