import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ModelpipeError } from '../errors/index.js';
import { type ServerLimits, createLimitedServer } from '../server/server-limits.js';
import { BadRecord, parseRecord } from './bad-record.js';
import { carryTrace } from './record-trace.js';
import { type AckOutcome, type HttpRequestState, ackTracker } from './http-acks.js';
import type { Sink } from './sink.js';

/**
 * A streaming HTTP source: clients POST newline-delimited JSON to `path` (default
 * /ingest); every line becomes one record. The body is read only as fast as the pipeline
 * pulls (a line is handed over when the consumer asks for one), so a slow model slows the
 * uploader through TCP flow control.
 *
 * The answer means something: 200 `{accepted, written, deadLetters}` is sent only once every
 * record of the request was written by the sink or dead-lettered (the pipeline acks them
 * through `acker`). A line that is not JSON is a dead letter (a BadRecord), the other lines
 * are taken. After `stop()` (SIGTERM) new requests get 503 MP_ERR_SHUTTING_DOWN; requests
 * already being read are finished, then the iteration ends. A record is either in a 2xx
 * answer and written, or its request got a non-2xx answer.
 */
export interface HttpRecord {
  /** The record's key: `keyOf(value)` when given, else `<request>-<line>`. */
  key: string;
  value: unknown;
}

export interface HttpSource extends AsyncIterable<HttpRecord> {
  readonly url: string;
  /** Acks records by key: their requests are answered once all their records are acked. */
  acker<T>(keyOf: (x: T) => string, outcome?: AckOutcome): Sink<T>;
  /** Stops intake: new requests are refused, the iteration ends after the ones in progress. */
  stop(): void;
  /** Closes the server; requests still waiting for their records get 503. */
  close(): Promise<void>;
}

export interface HttpSourceOptions {
  port?: number;
  host?: string;
  path?: string;
  maxLineBytes?: number;
  /** Key of a parsed record (e.g. a field); default `<request>-<line>`. */
  keyOf?: (value: unknown) => string | undefined;
  /** Server limits (server-limits.ts). An upload may stream for as long as the pipeline takes, so no total request time by default. */
  limits?: Partial<ServerLimits>;
}

type Offer = { rec: HttpRecord } | { end: true };

/** One-slot hand-off from the request loops to the pipeline: a loop waits until the consumer takes its record. */
class Handoff {
  private readonly queue: Offer[] = [];
  private readonly takers: ((v: Offer) => void)[] = [];
  private taken: (() => void)[] = [];

  offer(v: Offer): void {
    const t = this.takers.shift();
    if (t) t(v);
    else this.queue.push(v);
  }

  async give(rec: HttpRecord): Promise<void> {
    const v = { rec };
    this.offer(v);
    // Wait until the consumer pulled it: this is the backpressure point.
    while (this.queue.includes(v)) await new Promise<void>((r) => this.taken.push(r));
  }

  async *records(): AsyncGenerator<HttpRecord> {
    for (;;) {
      const v = this.queue.shift() ?? (await new Promise<Offer>((r) => this.takers.push(r)));
      const w = this.taken;
      this.taken = [];
      for (const f of w) f();
      if ('end' in v) return;
      yield v.rec;
    }
  }
}

/**
 * Hands one request's lines over as records, each expected by `state`. A cut or
 * unreadable body is answered here (the records already handed over are still
 * written; the client learns the body was cut): false then.
 */
async function readRecords(
  req: IncomingMessage,
  res: ServerResponse,
  id: number,
  state: HttpRequestState,
  ctx: { acks: ReturnType<typeof ackTracker>; handoff: Handoff; maxLine: number; keyOf: HttpSourceOptions['keyOf'] },
): Promise<boolean> {
  let line = 0;
  try {
    for await (const text of boundedLines(req, ctx.maxLine)) {
      line++;
      if (text.trim() === '') continue;
      const value = parseRecord(text, `POST ${id} line ${line}`);
      // Each record of a POST sent under a trace continues it (unless it names its own).
      carryTrace(value, req.headers.traceparent, req.headers.tracestate);
      const key = (value instanceof BadRecord ? undefined : ctx.keyOf?.(value)) ?? `${id}-${line}`;
      ctx.acks.expect(state, key);
      await ctx.handoff.give({ key, value });
    }
    return true;
  } catch (e) {
    ctx.acks.abandon(state);
    const err = e instanceof ModelpipeError ? e : new ModelpipeError('MP_ERR_BAD_REQUEST', `request body: ${(e as Error).message}`);
    reply(res, err.status, { ...err.toJSON(), accepted: 0 }, true);
    req.destroy();
    return false;
  }
}

export async function httpSource(options: HttpSourceOptions = {}): Promise<HttpSource> {
  const path = options.path ?? '/ingest';
  const acks = ackTracker();
  const handoff = new Handoff();
  const ctx = { acks, handoff, maxLine: options.maxLineBytes ?? 16 * 1024 * 1024, keyOf: options.keyOf };
  let stopping = false;
  let active = 0;
  let requestNo = 0;
  const endIfIdle = (): void => {
    if (stopping && active === 0) handoff.offer({ end: true });
  };

  const ingest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const state: HttpRequestState = acks.open();
    let read: boolean;
    try {
      read = await readRecords(req, res, ++requestNo, state, ctx);
    } finally {
      active--;
      endIfIdle();
    }
    if (!read) return;
    const done = await acks.close(state);
    if (done.failed) reply(res, 503, { code: 'MP_ERR_SHUTTING_DOWN', message: done.failed, accepted: 0 }, true);
    else reply(res, 200, { accepted: done.written + done.dead, written: done.written, deadLetters: done.dead }, stopping);
  };

  const { server } = createLimitedServer({ limits: { requestTimeoutMs: 0, ...options.limits } }, (req, res) => {
    if (req.method !== 'POST' || req.url?.split('?')[0] !== path) {
      reply(res, 404, { code: 'MP_ERR_BAD_REQUEST', message: `POST ${path}` }, false);
      return;
    }
    if (stopping) {
      reply(res, 503, { code: 'MP_ERR_SHUTTING_DOWN', message: 'the pipeline is stopping', accepted: 0 }, true);
      return;
    }
    active++;
    void ingest(req, res);
  });
  const addr = await listen(server, options.port ?? 0, options.host ?? '127.0.0.1');

  const src: HttpSource = {
    url: `http://${addr.address}:${addr.port}${path}`,
    acker: (keyOf, outcome = 'written') => ({ write: async (items) => acks.ack(items.map(keyOf), outcome), close: async () => {} }),
    stop() {
      if (stopping) return;
      stopping = true;
      server.close(); // no new connections; keep-alive ones get 503 above
      endIfIdle();
    },
    async close() {
      src.stop();
      acks.failAll('the pipeline ended before this request was written');
      await new Promise((r) => setImmediate(r)); // let the answers go out
      server.closeAllConnections();
    },
    [Symbol.asyncIterator]: () => handoff.records(),
  };
  return src;
}

async function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new ModelpipeError('MP_ERR_SOURCE', `http source cannot listen: ${e.message}`, { cause: e })));
    server.listen(port, host, () => resolve());
  });
  return server.address() as AddressInfo;
}

function reply(res: ServerResponse, status: number, body: unknown, close: boolean): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', ...(close ? { connection: 'close' } : {}) }).end(JSON.stringify(body));
}

/** Lines of a request body; a line longer than maxLine fails before it is buffered whole. */
async function* boundedLines(req: IncomingMessage, maxLine: number): AsyncGenerator<string> {
  let rest = '';
  const dec = new TextDecoder();
  for await (const chunk of req) {
    rest += dec.decode(chunk as Buffer, { stream: true });
    let nl = rest.indexOf('\n');
    while (nl >= 0) {
      yield rest.slice(0, nl).replace(/\r$/, '');
      rest = rest.slice(nl + 1);
      nl = rest.indexOf('\n');
    }
    if (rest.length > maxLine) throw new ModelpipeError('MP_ERR_BODY_TOO_LARGE', `a line is over ${maxLine} bytes`);
  }
  rest += dec.decode();
  if (rest !== '') yield rest.replace(/\r$/, '');
}
