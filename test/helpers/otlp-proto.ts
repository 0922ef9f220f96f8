/*
 * Reads an OTLP/HTTP protobuf trace export (ExportTraceServiceRequest) into the shape
 * of its JSON mapping, as far as the tests look: resource attributes, and each span's
 * ids (hex), name, attributes and links. Field numbers from
 * opentelemetry/proto/trace/v1/trace.proto and common/v1/common.proto.
 */

type Json = Record<string, unknown>;

class Reader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly end = buf.length,
  ) {}

  varint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw new Error('truncated varint');
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  }

  /** Each field of the message: its number and wire type, with a reader for a length-delimited one. */
  *fields(): Generator<{ field: number; type: number; sub: Reader | undefined; value: number }> {
    while (this.pos < this.end) {
      const key = this.varint();
      const field = Math.floor(key / 8);
      const type = key & 7;
      if (type === 2) {
        const len = this.varint();
        const sub = new Reader(this.buf, this.pos + len);
        sub.pos = this.pos;
        this.pos += len;
        yield { field, type, sub, value: 0 };
      } else if (type === 0) yield { field, type, sub: undefined, value: this.varint() };
      else if (type === 1) {
        const value = this.buf.readDoubleLE(this.pos);
        this.pos += 8;
        yield { field, type, sub: undefined, value };
      } else if (type === 5) {
        const value = this.buf.readUInt32LE(this.pos);
        this.pos += 4;
        yield { field, type, sub: undefined, value };
      } else throw new Error(`wire type ${type}`);
    }
  }

  bytes(): Buffer {
    return this.buf.subarray(this.pos, this.end);
  }
}

function anyValue(r: Reader): Json {
  for (const f of r.fields()) {
    if (f.field === 1 && f.sub) return { stringValue: f.sub.bytes().toString('utf8') };
    if (f.field === 2) return { boolValue: f.value !== 0 };
    if (f.field === 3) return { intValue: f.value };
    if (f.field === 4) return { doubleValue: f.value };
  }
  return {};
}

function keyValue(r: Reader): Json {
  const kv: Json = {};
  for (const f of r.fields()) {
    if (f.field === 1 && f.sub) kv.key = f.sub.bytes().toString('utf8');
    if (f.field === 2 && f.sub) kv.value = anyValue(f.sub);
  }
  return kv;
}

function span(r: Reader): Json {
  const s: Json = { attributes: [], links: [], events: [] };
  for (const f of r.fields()) {
    const sub = f.sub;
    if (sub === undefined) continue;
    if (f.field === 1) s.traceId = sub.bytes().toString('hex');
    else if (f.field === 2) s.spanId = sub.bytes().toString('hex');
    else if (f.field === 4) s.parentSpanId = sub.bytes().toString('hex');
    else if (f.field === 5) s.name = sub.bytes().toString('utf8');
    else if (f.field === 9) (s.attributes as Json[]).push(keyValue(sub));
    else if (f.field === 11) {
      const event: Json = {};
      for (const ef of sub.fields()) if (ef.field === 2 && ef.sub) event.name = ef.sub.bytes().toString('utf8');
      (s.events as Json[]).push(event);
    } else if (f.field === 13) {
      const link: Json = {};
      for (const lf of sub.fields()) {
        if (lf.field === 1 && lf.sub) link.traceId = lf.sub.bytes().toString('hex');
        if (lf.field === 2 && lf.sub) link.spanId = lf.sub.bytes().toString('hex');
      }
      (s.links as Json[]).push(link);
    }
  }
  return s;
}

/** An ExportTraceServiceRequest in the JSON mapping's shape (the fields the tests read). */
export function decodeTraceExport(body: Buffer): Json {
  const resourceSpans: Json[] = [];
  for (const rs of new Reader(body).fields()) {
    if (rs.field !== 1 || !rs.sub) continue;
    const out: Json = { resource: { attributes: [] }, scopeSpans: [] };
    for (const f of rs.sub.fields()) {
      if (f.field === 1 && f.sub) {
        const attrs: Json[] = [];
        for (const a of f.sub.fields()) if (a.field === 1 && a.sub) attrs.push(keyValue(a.sub));
        out.resource = { attributes: attrs };
      } else if (f.field === 2 && f.sub) {
        const spans: Json[] = [];
        for (const sf of f.sub.fields()) if (sf.field === 2 && sf.sub) spans.push(span(sf.sub));
        (out.scopeSpans as Json[]).push({ spans });
      }
    }
    resourceSpans.push(out);
  }
  return { resourceSpans };
}
