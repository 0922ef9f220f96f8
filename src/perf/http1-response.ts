import { ModelpipeError } from '../errors/index.js';

/** One HTTP/1.1 answer: status, headers (names lower-cased; the last of repeats wins), body. */
export interface HttpReply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface ResponseLimits {
  /** Status line and headers together. */
  maxHeaderBytes: number;
  /** The body, however it is framed. */
  maxBodyBytes: number;
}

const CRLF2 = Buffer.from('\r\n\r\n');
/** A chunk-size line ("1a2b;ext=…\r\n"): no honest server needs more. */
const MAX_CHUNK_LINE = 1024;
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: |$)/;

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'until-close' | 'done';

const bad = (why: string) => new ModelpipeError('MP_ERR_BAD_RESPONSE', `unreadable HTTP response: ${why}`);

/**
 * A minimal, defensive parser of one HTTP/1.1 response, fed socket chunks as they
 * come: the status line, headers up to a cap, then a body framed by Content-Length,
 * chunked encoding or (with neither) the connection's close, up to a cap. Bytes past
 * the end of the response are an error: the sender never pipelines, so a server
 * that sends them is broken. 1xx answers are skipped.
 */
export class ResponseParser {
  private state: State = 'head';
  private pending: Buffer | undefined;
  private parts: Buffer[] = [];
  private bodyBytes = 0;
  private trailerBytes = 0;
  /** Bytes still due: of the body (length) or of the current chunk. */
  private due = 0;
  status = 0;
  headers: Record<string, string> = {};
  /** False when the server said Connection: close (or spoke HTTP/1.0 without keep-alive). */
  keepAlive = true;

  constructor(private readonly limits: ResponseLimits) {}

  /** True once the response is complete. Throws a ModelpipeError on a malformed or oversized one. */
  feed(chunk: Buffer): boolean {
    let buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    while (buf.length > 0) {
      if (this.state === 'done') throw bad(`${buf.length} bytes after the end of the response`);
      const used = this.step(buf);
      if (used < 0) {
        this.pending = buf;
        return false;
      }
      buf = buf.subarray(used);
    }
    return this.state === 'done';
  }

  /** The connection closed: completes a close-delimited body, else says what was cut short. */
  end(): boolean {
    if (this.state === 'until-close') {
      this.state = 'done';
      return true;
    }
    return this.state === 'done';
  }

  /** Whether any byte of a response arrived. */
  get started(): boolean {
    return this.state !== 'head' || this.pending !== undefined;
  }

  reply(): HttpReply {
    const body = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.bodyBytes);
    return { status: this.status, headers: this.headers, body };
  }

  /** Consumes from `buf`; returns the bytes used, or -1 when more bytes are needed first. */
  private step(buf: Buffer): number {
    switch (this.state) {
      case 'head':
        return this.head(buf);
      case 'length':
      case 'chunk-data':
      case 'until-close': {
        const n = this.state === 'until-close' ? buf.length : Math.min(this.due, buf.length);
        this.take(buf.subarray(0, n));
        this.due -= n;
        if (this.due === 0 && this.state === 'length') this.state = 'done';
        if (this.due === 0 && this.state === 'chunk-data') this.state = 'chunk-end';
        return n;
      }
      case 'chunk-end':
        if (buf.length < 2) return -1;
        if (buf[0] !== 13 || buf[1] !== 10) throw bad('a chunk not followed by CRLF');
        this.state = 'chunk-size';
        return 2;
      case 'chunk-size':
        return this.chunkSize(buf);
      case 'trailers':
        return this.trailers(buf);
      default:
        return buf.length;
    }
  }

  private head(buf: Buffer): number {
    const end = buf.indexOf(CRLF2);
    if (end < 0 || end + 4 > this.limits.maxHeaderBytes) {
      if (buf.length > this.limits.maxHeaderBytes || end >= 0) throw bad(`headers over ${this.limits.maxHeaderBytes} bytes`);
      return -1;
    }
    const lines = buf.toString('latin1', 0, end).split('\r\n');
    const m = STATUS_LINE.exec(lines[0] as string);
    if (!m) throw bad(`status line ${JSON.stringify((lines[0] as string).slice(0, 80))}`);
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      if (colon <= 0) throw bad(`header line ${JSON.stringify(line.slice(0, 80))}`);
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    if (status < 200) return end + 4; // 1xx: an interim answer, the real one follows
    this.status = status;
    this.headers = headers;
    const conn = headers.connection?.toLowerCase();
    this.keepAlive = (lines[0] as string).startsWith('HTTP/1.1') ? conn !== 'close' : conn === 'keep-alive';
    this.framing(status, headers);
    return end + 4;
  }

  private framing(status: number, headers: Record<string, string>): void {
    const te = headers['transfer-encoding'];
    const cl = headers['content-length'];
    if (status === 204 || status === 304) {
      this.state = 'done';
    } else if (te !== undefined) {
      if (te.toLowerCase() !== 'chunked') throw bad(`transfer-encoding ${JSON.stringify(te)}`);
      this.state = 'chunk-size';
    } else if (cl !== undefined) {
      if (!/^\d{1,15}$/.test(cl)) throw bad(`content-length ${JSON.stringify(cl)}`);
      this.due = Number(cl);
      this.checkBody(this.due);
      this.state = this.due === 0 ? 'done' : 'length';
    } else {
      this.keepAlive = false;
      this.state = 'until-close';
    }
  }

  private chunkSize(buf: Buffer): number {
    const eol = buf.indexOf('\r\n');
    if (eol < 0) {
      if (buf.length > MAX_CHUNK_LINE) throw bad('a chunk-size line over 1 KiB');
      return -1;
    }
    const text = buf.toString('latin1', 0, eol);
    const hex = text.split(';', 1)[0]?.trim() ?? '';
    if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw bad(`chunk size ${JSON.stringify(text.slice(0, 40))}`);
    const size = Number.parseInt(hex, 16);
    this.checkBody(this.bodyBytes + size);
    this.due = size;
    this.state = size === 0 ? 'trailers' : 'chunk-data';
    return eol + 2;
  }

  /** Trailer lines after the last chunk, up to the empty line; bounded like the headers. */
  private trailers(buf: Buffer): number {
    const eol = buf.indexOf('\r\n');
    const size = this.trailerBytes + (eol < 0 ? buf.length : eol + 2);
    if (size > this.limits.maxHeaderBytes) throw bad(`trailers over ${this.limits.maxHeaderBytes} bytes`);
    if (eol < 0) return -1;
    this.trailerBytes = size;
    if (eol === 0) this.state = 'done';
    return eol + 2;
  }

  private take(part: Buffer): void {
    this.checkBody(this.bodyBytes + part.length);
    this.bodyBytes += part.length;
    this.parts.push(part);
  }

  private checkBody(n: number): void {
    if (n > this.limits.maxBodyBytes) throw bad(`a body over ${this.limits.maxBodyBytes} bytes`);
  }
}
