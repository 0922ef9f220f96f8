import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ModelpipeError } from '../errors/index.js';
import { type ServerLimits, createLimitedServer } from '../server/server-limits.js';
import { lines } from './sources.js';

/**
 * A streaming HTTP source: clients POST newline-delimited JSON; every line becomes one
 * item. The request body is read only as fast as the pipeline pulls (a line is handed
 * over only when the consumer asks for one), so a slow model slows the uploader through
 * TCP flow control. The response (202 with the count) is sent once all of the request's
 * lines were taken by the pipeline; a bad JSON line answers 400 and ends that request.
 */
export interface HttpSource<T> extends AsyncIterable<T> {
  readonly url: string;
  /** Stops accepting requests; the iteration ends after the queued items. */
  close(): Promise<void>;
}

export async function httpSource<T = unknown>(
  options: {
    port?: number;
    host?: string;
    path?: string;
    maxLineBytes?: number;
    /** Server limits (server-limits.ts). An upload may stream for as long as the pipeline takes, so no total request time by default. */
    limits?: Partial<ServerLimits>;
  } = {},
): Promise<HttpSource<T>> {
  const path = options.path ?? '/ingest';
  const maxLine = options.maxLineBytes ?? 16 * 1024 * 1024;
  // One slot hand-off: a request loop waits until the consumer takes its item.
  let wantResolve: (() => void) | undefined;
  let want = new Promise<void>((r) => (wantResolve = r));
  const offers: ((v: { item: T } | { end: true }) => void)[] = [];
  let closed = false;
  const queue: ({ item: T } | { end: true })[] = [];

  const give = async (v: { item: T } | { end: true }): Promise<void> => {
    const taker = offers.shift();
    if (taker) {
      taker(v);
      return;
    }
    queue.push(v);
    // Wait until the consumer pulls: this is the backpressure point.
    while (queue.includes(v)) await want;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'POST' || req.url?.split('?')[0] !== path) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ code: 'MP_ERR_BAD_REQUEST', message: `POST ${path}` }));
      return;
    }
    let n = 0;
    try {
      for await (const line of lines(req)) {
        if (line.length > maxLine) throw new ModelpipeError('MP_ERR_BODY_TOO_LARGE', `line ${n + 1} is over ${maxLine} bytes`);
        if (line.trim() === '') continue;
        let item: T;
        try {
          item = JSON.parse(line) as T;
        } catch (e) {
          throw new ModelpipeError('MP_ERR_WIRE_BAD_JSON', `line ${n + 1}: ${(e as Error).message}`);
        }
        n++;
        await give({ item });
      }
      res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: n }));
    } catch (e) {
      const err = e instanceof ModelpipeError ? e : new ModelpipeError('MP_ERR_BAD_REQUEST', String(e));
      // A server limit (body timeout) may have answered already.
      if (!res.headersSent)
        res
          .writeHead(err.status, { 'content-type': 'application/json', connection: 'close' })
          .end(JSON.stringify({ ...err.toJSON(), accepted: n }));
      req.destroy();
    }
  };
  const { server } = createLimitedServer({ limits: { requestTimeoutMs: 0, ...options.limits } }, (req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new ModelpipeError('MP_ERR_SOURCE', `http source cannot listen: ${e.message}`, { cause: e })));
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;

  return {
    url: `http://${addr.address}:${addr.port}${path}`,
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((r) => server.close(() => r()));
      const end = { end: true } as const;
      const taker = offers.shift();
      if (taker) taker(end);
      else queue.push(end);
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        let v = queue.shift();
        if (v === undefined) v = await new Promise<{ item: T } | { end: true }>((r) => offers.push(r));
        // Wake producers waiting for their item to be taken.
        wantResolve?.();
        want = new Promise<void>((r) => (wantResolve = r));
        if ('end' in v) return;
        yield v.item;
      }
    },
  };
}
