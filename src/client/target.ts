import { ModelpipeError } from '../errors/index.js';
import { isDiscoveryUrl } from './endpoints/schemes.js';
import { splitEndpointList } from './endpoints/static-discovery.js';

const isGrpcUrl = (u: string): boolean => u.startsWith('grpc://') || u.startsWith('grpcs://');

/**
 * What a client was given to call: one URL, a comma-separated list, or a
 * discovery URL (then the client's calls go through an endpoint set, see
 * endpoints/route.ts), and, per endpoint, the addresses derived from its URL.
 * Everything that reads an endpoint's URL lives in this file.
 */
export class ClientTarget {
  /** The target as given, for messages (GraphPipe posts to a single URL as is). */
  readonly url: string;
  /** grpc:// is cleartext HTTP/2, grpcs:// gRPC over TLS (a list: every entry; discovery: its ?scheme=). */
  readonly grpcScheme: boolean;

  constructor(url: string) {
    if (typeof url !== 'string' || url === '') throw new ModelpipeError('MP_ERR_BAD_CONFIG', `a client needs a URL, got ${String(url)}`);
    this.url = url;
    if (isDiscoveryUrl(url)) this.grpcScheme = /[?&]scheme=grpcs?(&|$)/.test(url);
    else if (url.includes(',')) {
      const grpc = splitEndpointList(url).map(isGrpcUrl);
      if (new Set(grpc).size > 1) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${url}: an endpoint list mixes gRPC and HTTP URLs`);
      this.grpcScheme = grpc[0] === true;
    } else this.grpcScheme = isGrpcUrl(url);
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
