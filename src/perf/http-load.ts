import { Pool } from 'undici';
import { transportError } from '../client/errors.js';
import type { HttpReply } from './http1-response.js';
import { SocketSender } from './socket-sender.js';

/** How perf's HTTP loads reach the server: its own sockets (default), or undici (the fallback). */
export type HttpClientKind = 'socket' | 'undici';
export const HTTP_CLIENTS: readonly HttpClientKind[] = ['socket', 'undici'];

/**
 * An HTTP client for one origin that perf posts the same bodies to over and over:
 * `post` prepares a request once and returns the function that sends it. Answers of
 * any status resolve; transport failures reject with a RemoteError.
 */
export interface HttpLoad {
  post(path: string, headers: Record<string, string>, body: Uint8Array): (signal: AbortSignal) => Promise<HttpReply>;
  close(): Promise<void>;
}

export function httpLoad(kind: HttpClientKind, url: string, connections: number, timeoutMs: number): HttpLoad {
  return kind === 'undici' ? new UndiciLoad(url, connections, timeoutMs) : new SocketSender(url, connections, timeoutMs);
}

/** The undici fallback: an undici pool of perf's own, undici's timeouts, the step's stop signal. */
class UndiciLoad implements HttpLoad {
  readonly #pool: Pool;

  constructor(
    readonly url: string,
    connections: number,
    private readonly timeoutMs: number,
  ) {
    this.#pool = new Pool(new URL(url).origin, { connections, pipelining: 1 });
  }

  post(path: string, headers: Record<string, string>, body: Uint8Array): (signal: AbortSignal) => Promise<HttpReply> {
    const { url, timeoutMs } = this;
    return async (signal) => {
      try {
        const res = await this.#pool.request({
          method: 'POST',
          path,
          body,
          headers,
          signal,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        const answer = Buffer.from(await res.body.arrayBuffer());
        const h: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h[k] = Array.isArray(v) ? v.join(', ') : v;
        return { status: res.statusCode, headers: h, body: answer };
      } catch (err: unknown) {
        throw transportError(url, err, timeoutMs);
      }
    };
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
