import { Readable } from 'node:stream';
import { type Dispatcher, request } from 'undici';
import { endOutgoing, outgoingTrace } from '../observe/outgoing-trace.js';
import type { TraceContext } from '../observe/tracing.js';
import { transportError } from './errors.js';
import { type ClientSecurity, PerSecurity, authHeaders, newAgent, tlsKey } from './security.js';

/** One call's limits. */
export interface HttpCall {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** The trace context the call continues (a model run's: RunRequest.trace); absent = the one a synchronous model run set. */
  trace?: TraceContext | undefined;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Uint8Array;
}

export interface HttpBody {
  chunks: readonly Uint8Array[];
  headers: Record<string, string>;
}

/** Bodies from this size on go out as their chunks (tensor payloads are never copied). */
export const LARGE_BODY = 1 << 16;

function bodyOf(chunks: readonly Uint8Array[], total: number): Uint8Array | Readable {
  if (total >= LARGE_BODY) return Readable.from(chunks, { objectMode: false });
  return chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks);
}

/**
 * The HTTP side of a client (GraphPipe, OIP REST): keep-alive pools of its own,
 * one per distinct TLS settings (closed by close()), or one pool the caller lends
 * (`dispatcher`: used, never closed — the functional helpers lend the shared ones).
 */
export class HttpTransport {
  readonly #own: PerSecurity<Dispatcher> | undefined;
  readonly #lent: Dispatcher | undefined;

  constructor(opts: { dispatcher?: Dispatcher | undefined; connections?: number | undefined }) {
    this.#lent = opts.dispatcher;
    this.#own = opts.dispatcher
      ? undefined
      : new PerSecurity<Dispatcher>(
          tlsKey,
          (s) => newAgent(s, opts.connections),
          (a) => a.close(),
        );
  }

  /** One request to `url`; an answer of any status, or a RemoteError for a transport failure. */
  async send(url: string, method: 'GET' | 'POST', sec: ClientSecurity, body: HttpBody | undefined, call: HttpCall): Promise<HttpAnswer> {
    const { timeoutMs } = call;
    const dispatcher = this.#lent ?? (this.#own as PerSecurity<Dispatcher>).get(sec);
    const timeout = AbortSignal.timeout(timeoutMs);
    // traceparent of the request being served (or of this call's span): every client carries it from here.
    const traced = outgoingTrace(method, url, call.trace);
    let res: Dispatcher.ResponseData;
    try {
      let total = 0;
      for (const c of body?.chunks ?? []) total += c.length;
      res = await request(url, {
        method,
        ...(body
          ? {
              body: bodyOf(body.chunks, total),
              headers: { ...body.headers, 'content-length': String(total), ...authHeaders(sec), ...traced?.headers },
            }
          : { headers: traced ? { ...authHeaders(sec), ...traced.headers } : authHeaders(sec) }),
        dispatcher,
        signal: call.signal ? AbortSignal.any([timeout, call.signal]) : timeout,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    } catch (err: unknown) {
      endOutgoing(traced, undefined, err);
      // Name the cause the caller chose (its signal, our deadline) rather than undici's wrapper.
      if (call.signal?.aborted) throw transportError(url, Object.assign(new Error('aborted'), { name: 'AbortError' }), timeoutMs);
      if (timeout.aborted) throw transportError(url, Object.assign(new Error('timeout'), { name: 'TimeoutError' }), timeoutMs);
      throw transportError(url, err, timeoutMs);
    }
    try {
      const answer = { status: res.statusCode, headers: res.headers, body: new Uint8Array(await res.body.arrayBuffer()) };
      endOutgoing(traced, res.statusCode);
      return answer;
    } catch (err: unknown) {
      endOutgoing(traced, res.statusCode, err);
      throw transportError(url, err, timeoutMs, true);
    }
  }

  /** Closes the pools this transport owns; calls in flight finish first (undici's Agent.close). */
  async close(): Promise<void> {
    await this.#own?.closeAll();
  }
}
