import { type ErrorCode, ModelpipeError, codeFromNumber } from '../errors/index.js';

/**
 * An error reported by (or on the way to) a remote model server. `code` is the
 * server's own code when it is a modelpipe server (so callers can match on
 * MP_ERR_INPUT_DTYPE and friends), MP_ERR_REMOTE otherwise; `remoteCode` is the
 * raw numeric code the server sent, `status` the HTTP status, `url` where it came from.
 */
export class RemoteError extends ModelpipeError {
  readonly remoteCode: number | undefined;
  /**
   * Set only when the call itself failed on its way (not an answer relayed by a
   * server): 'connect' = never reached it, 'closed' = connected and sent, then the
   * connection ended before any response byte, 'closed-late' = ended mid-response.
   * An endpoint set decides failover on this, never on the code, which a hop server
   * may have passed on from further down.
   */
  readonly failure: TransportFailure | undefined;
  /** From a 429's Retry-After header, in ms. */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: {
      url: string;
      status?: number;
      remoteCode?: number;
      cause?: unknown;
      failure?: TransportFailure;
      retryAfterMs?: number | undefined;
    },
  ) {
    super(code, message, {
      url: opts.url,
      ...(opts.status !== undefined ? { status: opts.status } : {}),
      ...(opts.cause !== undefined ? { cause: opts.cause } : {}),
    });
    this.remoteCode = opts.remoteCode;
    this.failure = opts.failure;
    this.retryAfterMs = opts.retryAfterMs;
  }

  static fromWire(url: string, status: number, code: number, message: string, retryAfterMs?: number | undefined): RemoteError {
    return new RemoteError(codeFromNumber(code) ?? 'MP_ERR_REMOTE', `${url}: ${message}`, {
      url,
      status,
      remoteCode: code,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
}

export type TransportFailure = 'connect' | 'closed' | 'closed-late';

/** Retry-After (seconds, or an HTTP date) in ms; undefined when absent or unreadable. */
export function retryAfterMs(header: unknown, now = Date.now()): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (typeof v !== 'string' || v.trim() === '') return undefined;
  const secs = Number(v);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Maps a transport failure (refused, reset, timeout, abort) to a typed error naming
 * the URL; `afterResponse`: the answer had begun (its headers were in).
 */
export function transportError(url: string, err: unknown, timeoutMs: number | undefined, afterResponse = false): RemoteError {
  const e = err as { code?: string; name?: string; message?: string };
  if (e?.name === 'AbortError' || e?.code === 'UND_ERR_ABORTED') {
    return new RemoteError('MP_ERR_CANCELLED', `${url}: request aborted`, { url, cause: err });
  }
  if (
    e?.code === 'UND_ERR_HEADERS_TIMEOUT' ||
    e?.code === 'UND_ERR_BODY_TIMEOUT' ||
    e?.code === 'UND_ERR_CONNECT_TIMEOUT' ||
    e?.name === 'TimeoutError'
  ) {
    return new RemoteError('MP_ERR_TIMEOUT', `${url}: no answer within ${timeoutMs ?? '?'} ms`, { url, cause: err });
  }
  if (e?.code === 'UND_ERR_SOCKET') {
    // Connected and sent; the server closed the socket without an answer (graphpipe-go
    // panics on a zero-element tensor, for one): not a reachability problem.
    return new RemoteError(
      'MP_ERR_REMOTE_CLOSED',
      `${url}: the server closed the connection without answering (it may have crashed on this request)`,
      { url, cause: err, failure: afterResponse ? 'closed-late' : 'closed' },
    );
  }
  const detail = (err as { cause?: { code?: string; message?: string } })?.cause;
  const why = detail?.code ?? e?.code ?? detail?.message ?? e?.message ?? String(err);
  // A reset came after the request went out: the server was reached.
  const reset = why === 'ECONNRESET' || why === 'EPIPE';
  const failure = reset ? (afterResponse ? 'closed-late' : 'closed') : 'connect';
  return new RemoteError('MP_ERR_CONNECT', `${url}: cannot reach server (${why})`, { url, cause: err, failure });
}
