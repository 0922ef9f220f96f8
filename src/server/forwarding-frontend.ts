import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { type Dispatcher, request } from 'undici';
import { RemoteError, retryAfterMs, transportError } from '../client/errors.js';
import { type ClientSecurity, authHeaders } from '../client/security.js';
import { type ModelpipeError, isErrorCode } from '../errors/index.js';
import { readBody } from './body.js';
import type { HttpFrontend, RequestContext } from './frontend.js';
import { sendGraphPipeError } from './graphpipe-frontend.js';
import { sendOipError } from './oip-frontend.js';

/** What the forwarder needs of an endpoint set (client/endpoints' EndpointSet): one call with failover. */
export interface ForwardTargets {
  call<T>(fn: (url: string, remainingMs: number) => Promise<T>, limits?: { timeoutMs?: number; signal?: AbortSignal }): Promise<T>;
}

/** Headers that belong to one connection (RFC 9110 §7.6.1) or that the forwarder sets itself. */
const NOT_FORWARDED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  // The caller's token is for this proxy; the target gets the proxy's own (--hop-token).
  'authorization',
]);

/** A request with no deadline of its own gets the server's longest (modelpipe's request timeout). */
const DEFAULT_FORWARD_TIMEOUT_MS = 300_000;

/**
 * `modelpipe batcher --no-batch`: a plain L7 balancer. Every request (GraphPipe, OIP
 * REST, any path) is read once into one buffer (bounded by the body limit; never
 * decoded or re-encoded), sent to an endpoint the set chooses, and, when that one
 * fails as the set's rules allow (connection refused or reset before an answer, 503,
 * 429), to another with the same buffer. The chosen answer streams back as it came:
 * status, content type, body. Errors of its own are answered in the route's protocol.
 */
export class ForwardingFrontend implements HttpFrontend {
  readonly name = 'forward';

  constructor(
    private readonly targets: ForwardTargets,
    private readonly dispatcher: Dispatcher,
    private readonly security: ClientSecurity,
  ) {}

  claims(): boolean {
    return true;
  }

  async handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<boolean> {
    const method = req.method ?? 'GET';
    const body = method === 'GET' || method === 'HEAD' ? undefined : await readBody(req, ctx.bodyLimit);
    const headers = forwardedHeaders(req, this.security);
    const limits = { timeoutMs: ctx.timeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS, signal: ctx.signal };
    const answer = await this.targets.call(
      (url, remainingMs) => this.once(`${url.replace(/\/+$/, '')}${req.url ?? '/'}`, method, headers, body, remainingMs, ctx.signal),
      limits,
    );
    res.writeHead(answer.statusCode, answerHeaders(answer.headers));
    // Past this point the answer has begun: a target that dies now cuts the response.
    await pipeline(answer.body, res).catch(() => res.destroy());
    return true;
  }

  sendError(req: IncomingMessage, res: ServerResponse, e: ModelpipeError, ctx: RequestContext): void {
    if (ctx.path.startsWith('/v2')) sendOipError(res, e, ctx);
    else sendGraphPipeError(res, e, ctx, req.headers.accept);
  }

  /** One try on one endpoint: the answer, or a RemoteError the set decides failover on. */
  private async once(
    url: string,
    method: string,
    headers: Record<string, string>,
    body: Uint8Array | undefined,
    remainingMs: number,
    signal: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    const timeout = AbortSignal.timeout(Math.max(1, remainingMs));
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        method: method as Dispatcher.HttpMethod,
        headers: body ? { ...headers, 'content-length': String(body.length) } : headers,
        ...(body ? { body } : {}),
        dispatcher: this.dispatcher,
        signal: AbortSignal.any([timeout, signal]),
        headersTimeout: remainingMs,
        bodyTimeout: remainingMs,
      });
    } catch (err: unknown) {
      // Name the cause (the caller went away, the deadline passed) rather than undici's wrapper.
      if (signal.aborted) throw new RemoteError('MP_ERR_CANCELLED', `${url}: request aborted`, { url, cause: err });
      if (timeout.aborted) throw new RemoteError('MP_ERR_TIMEOUT', `${url}: no answer within ${remainingMs} ms`, { url, cause: err });
      throw transportError(url, err, remainingMs);
    }
    if (res.statusCode !== 503 && res.statusCode !== 429) return res;
    // Busy, draining or throttled: the set may try another endpoint, so this answer is not relayed.
    const text = await res.body.text().catch(() => '');
    throw refusal(url, res.statusCode, res.headers, text);
  }
}

function forwardedHeaders(req: IncomingMessage, security: ClientSecurity): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || NOT_FORWARDED.has(k)) continue;
    out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return { ...out, ...authHeaders(security) };
}

function answerHeaders(h: Dispatcher.ResponseData['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !NOT_FORWARDED.has(k) && k !== 'content-length') out[k] = v;
  // Kept when the target sent it: the body passes through unchanged.
  const length = h['content-length'];
  if (typeof length === 'string') out['content-length'] = length;
  return out;
}

/** A 503/429 from a target as an error that keeps its status and, where the target named one, its code. */
function refusal(url: string, status: number, headers: Dispatcher.ResponseData['headers'], text: string): RemoteError {
  const named = headers['x-modelpipe-error'];
  const code = typeof named === 'string' && isErrorCode(named) ? named : undefined;
  const message = `${url}: ${status} ${text.trim().slice(0, 500)}`;
  const wait = retryAfterMs(headers['retry-after']);
  return new RemoteError(code ?? 'MP_ERR_REMOTE', message, {
    url,
    status,
    ...(wait !== undefined ? { retryAfterMs: wait } : {}),
  });
}
