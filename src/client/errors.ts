import { type ErrorCode, ModelpipeError, codeFromNumber } from '../errors/index.js';

/**
 * An error reported by (or on the way to) a remote model server. `code` is the
 * server's own code when it is a modelpipe server (so callers can match on
 * MP_ERR_INPUT_DTYPE and friends), MP_ERR_REMOTE otherwise; `remoteCode` is the
 * raw numeric code the server sent, `status` the HTTP status, `url` where it came from.
 */
export class RemoteError extends ModelpipeError {
  readonly remoteCode: number | undefined;

  constructor(code: ErrorCode, message: string, opts: { url: string; status?: number; remoteCode?: number; cause?: unknown }) {
    super(code, message, {
      url: opts.url,
      ...(opts.status !== undefined ? { status: opts.status } : {}),
      ...(opts.cause !== undefined ? { cause: opts.cause } : {}),
    });
    this.remoteCode = opts.remoteCode;
  }

  static fromWire(url: string, status: number, code: number, message: string): RemoteError {
    return new RemoteError(codeFromNumber(code) ?? 'MP_ERR_REMOTE', `${url}: ${message}`, { url, status, remoteCode: code });
  }
}

/** Maps a transport failure (refused, reset, timeout, abort) to a typed error naming the URL. */
export function transportError(url: string, err: unknown, timeoutMs: number | undefined): RemoteError {
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
      {
        url,
        cause: err,
      },
    );
  }
  const detail = (err as { cause?: { code?: string; message?: string } })?.cause;
  const why = detail?.code ?? e?.code ?? detail?.message ?? e?.message ?? String(err);
  return new RemoteError('MP_ERR_CONNECT', `${url}: cannot reach server (${why})`, { url, cause: err });
}
