import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ModelpipeError } from '../errors/index.js';
import { type ServerLimits, createLimitedServer } from '../server/server-limits.js';
import { BadRecord, parseRecord } from './bad-record.js';
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

export async function httpSource(options: HttpSourceOptions = {}): Promise<HttpSource> {
  const path = options.path ?? '/ingest';
  const maxLine = options.maxLineBytes ?? 16 * 1024 * 1024;
  const acks = ackTracker();
  // One slot hand-off: a request loop waits until the consumer takes its record.
  const queue: Offer[] = [];
  const takers: ((v: Offer) => void)[] = [];
  let taken: (() => void)[] = [];
  let stopping = false;
  let active = 0;
  let requestNo = 0;

  const offer = (v: Offer): void => {
    const t = takers.shift();
    if (t) t(v);
    else queue.push(v);
  };
  const give = async (rec: HttpRecord): Promise<void> => {
    const v = { rec };
    offer(v);
    // Wait until the consumer pulled it: this is the backpressure point.
    while (queue.includes(v)) await new Promise<void>((r) => taken.push(r));
  };
  const endIfIdle = (): void => {
    if (stopping && active === 0) offer({ end: true });
  };

  const ingest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const state: HttpRequestState = acks.open();
    const id = ++requestNo;
    let line = 0;
    try {
      for await (const text of boundedLines(req, maxLine)) {
        line++;
        if (text.trim() === '') continue;
        const value = parseRecord(text, `POST ${id} line ${line}`);
        const key = (value instanceof BadRecord ? undefined : options.keyOf?.(value)) ?? `${id}-${line}`;
        acks.expect(state, key);
        await give({ key, value });
      }
    } catch (e) {
      // Records already handed over are still written; the client learns the body was cut.
      acks.abandon(state);
      const err = e instanceof ModelpipeError ? e : new ModelpipeError('MP_ERR_BAD_REQUEST', `request body: ${(e as Error).message}`);
      reply(res, err.status, { ...err.toJSON(), accepted: 0 }, true);
      req.destroy();
      return;
    } finally {
      active--;
      endIfIdle();
    }
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
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new ModelpipeError('MP_ERR_SOURCE', `http source cannot listen: ${e.message}`, { cause: e })));
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;

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
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const v = queue.shift() ?? (await new Promise<Offer>((r) => takers.push(r)));
        const w = taken;
        taken = [];
        for (const f of w) f();
        if ('end' in v) return;
        yield v.rec;
      }
    },
  };
  return src;
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
