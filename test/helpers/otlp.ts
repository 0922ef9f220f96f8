import { type Server, createServer } from 'node:http';
import { decodeTraceExport } from './otlp-proto.js';

/** One exported span as the test reads it: ids in hex, attributes as plain values. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  service: string;
  /** Its resource's attributes (service.name among them). */
  resource: Record<string, string | number | boolean>;
  attributes: Record<string, string | number | boolean>;
  links: { traceId: string; spanId: string }[];
  /** The names of its events (a retry is one). */
  events: string[];
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}

interface OtlpKeyValue {
  key: string;
  value: OtlpValue;
}

function plain(v: OtlpValue): string | number | boolean {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  return v.boolValue ?? '';
}

function attrs(list: OtlpKeyValue[] | undefined): Record<string, string | number | boolean> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, plain(a.value)]));
}

/**
 * A tiny OTLP/HTTP (protobuf or JSON) trace receiver on loopback: what an OpenTelemetry collector
 * would get at /v1/traces, parsed into spans. `waitFor` polls until a predicate holds
 * (exports are batched), bounded.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Every POST's path (the exporter must use /v1/traces). */
  readonly paths: string[] = [];
  /** How many exports came as protobuf (the default encoding) rather than JSON. */
  protobufExports = 0;
  private server: Server | undefined;
  url = '';

  /** `host`: another loopback address keeps its URL apart from a server's (startPrintingUrl takes the first 127.0.0.1 URL printed). */
  async start(host = '127.0.0.1'): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.paths.push(req.url ?? '');
        const proto = req.headers['content-type'] === 'application/x-protobuf';
        if (proto) this.protobufExports++;
        try {
          const body = Buffer.concat(chunks);
          this.take(proto ? decodeTraceExport(body) : JSON.parse(body.toString('utf8')));
        } catch {
          res.writeHead(400).end(); // not an OTLP export
          return;
        }
        // An empty ExportTraceServiceResponse in either encoding.
        res.writeHead(200, { 'content-type': proto ? 'application/x-protobuf' : 'application/json' });
        res.end(proto ? '' : '{}');
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, host, r));
    this.url = `http://${host}:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  private take(body: {
    resourceSpans?: { resource?: { attributes?: OtlpKeyValue[] }; scopeSpans?: { spans?: Record<string, unknown>[] }[] }[];
  }): void {
    for (const rs of body.resourceSpans ?? []) {
      const resource = attrs(rs.resource?.attributes);
      const service = String(resource['service.name'] ?? '');
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          this.spans.push({
            traceId: s.traceId as string,
            spanId: s.spanId as string,
            parentSpanId: (s.parentSpanId as string | undefined) ?? '',
            name: s.name as string,
            service,
            resource,
            attributes: attrs(s.attributes as OtlpKeyValue[]),
            links: ((s.links as { traceId: string; spanId: string }[] | undefined) ?? []).map((l) => ({
              traceId: l.traceId,
              spanId: l.spanId,
            })),
            events: ((s.events as { name: string }[] | undefined) ?? []).map((e) => e.name),
          });
        }
      }
    }
  }

  async waitFor(ok: (spans: ReceivedSpan[]) => boolean, timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!ok(this.spans)) {
      if (Date.now() > until) throw new Error(`spans never arrived; got ${this.spans.map((s) => s.name).join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): Promise<void> {
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
