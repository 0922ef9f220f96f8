import { ModelpipeError } from '../errors/index.js';

/**
 * Where a client sends its calls. Today one endpoint per client; the replicas
 * issue will give a client several (a list or a discovery URL) and choose one per
 * call here, so the clients ask this object for addresses instead of holding a
 * URL themselves. Everything that reads an endpoint's URL lives in this file.
 */
export class ClientTarget {
  /** The URL as given, for messages (GraphPipe posts to it as is). */
  readonly url: string;
  /** grpc:// is cleartext HTTP/2, grpcs:// gRPC over TLS. */
  readonly grpcScheme: boolean;

  constructor(url: string) {
    if (typeof url !== 'string' || url === '') throw new ModelpipeError('MP_ERR_BAD_CONFIG', `a client needs a URL, got ${String(url)}`);
    this.url = url;
    this.grpcScheme = url.startsWith('grpc://') || url.startsWith('grpcs://');
  }

  /** The URL with `path` appended (REST routes under the endpoint). */
  href(path: string): string {
    return `${this.url.replace(/\/+$/, '')}${path}`;
  }

  /** host:port for an HTTP/2 channel, and whether it speaks TLS (grpcs:// or https://). */
  grpcAuthority(): { authority: string; secure: boolean } {
    const secure = this.url.startsWith('grpcs://') || this.url.startsWith('https://');
    return { authority: this.url.replace(/^(grpcs?|https?):\/\//, '').replace(/\/.*$/, ''), secure };
  }

  /** The same server's origin (for a GraphPipe URL: where its /v2 routes are). */
  origin(): string {
    try {
      return new URL(this.url).origin;
    } catch {
      throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${this.url} is not a valid URL`);
    }
  }
}
