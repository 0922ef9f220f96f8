import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import tls from 'node:tls';
import { ModelpipeError } from '../errors/index.js';

/** Where a server's certificate lives (PEM files, read at start and again on reload). */
export interface TlsFiles {
  cert: string;
  key: string;
  /** CA bundle that client certificates must chain to: set, it turns on mutual TLS. */
  clientCa?: string;
}

/** A server that can swap its certificate for new connections (tls.Server and its subclasses). */
type Reloadable = Pick<tls.Server, 'setSecureContext'>;

/**
 * A listening surface's TLS: the certificate, key and optional client CA, read from
 * files. `reload()` re-reads them and hands the new context to every attached
 * server (`setSecureContext`): connections made after it see the new certificate,
 * open ones keep theirs. A reload that cannot read or parse the files keeps the
 * old context and throws, so a half-written certificate never takes a server down.
 */
export class ServerTls {
  private context: tls.SecureContextOptions;
  private readonly servers: Reloadable[] = [];

  constructor(readonly files: TlsFiles) {
    this.context = readContext(files);
  }

  /** Whether clients must present a certificate signed by the client CA. */
  get mutual(): boolean {
    return this.files.clientCa !== undefined;
  }

  /** Options for https.createServer / http2.createSecureServer. */
  serverOptions(): tls.TlsOptions {
    return { ...this.context, ...(this.mutual ? { requestCert: true, rejectUnauthorized: true } : {}), minVersion: 'TLSv1.2' };
  }

  /** Registers a server created with serverOptions() for reloads. */
  attach(server: Reloadable): void {
    this.servers.push(server);
  }

  reload(): void {
    const next = readContext(this.files);
    for (const s of this.servers) s.setSecureContext(next);
    this.context = next;
  }
}

function readContext(f: TlsFiles): tls.SecureContextOptions {
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err: unknown) {
      throw new ModelpipeError('MP_ERR_TLS_CONFIG', `cannot read the TLS ${what} ${path}: ${(err as Error).message}`);
    }
  };
  const ctx: tls.SecureContextOptions = { cert: read('certificate', f.cert), key: read('key', f.key) };
  if (f.clientCa !== undefined) ctx.ca = read('client CA', f.clientCa);
  try {
    tls.createSecureContext(ctx); // a key that does not match the certificate fails here, not at the first handshake
  } catch (err: unknown) {
    throw new ModelpipeError('MP_ERR_TLS_CONFIG', `unusable TLS certificate/key (${f.cert}, ${f.key}): ${(err as Error).message}`);
  }
  return ctx;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * node:http's server, or node:https's with the same options when TLS is set. The
 * https server has every http.Server method the HTTP server uses (it is typed as a
 * tls.Server), so it is returned as one.
 */
export function createHttpServer(t: ServerTls | undefined, options: http.ServerOptions, handler: Handler): http.Server {
  if (!t) return http.createServer(options, handler);
  const server = https.createServer({ ...options, ...t.serverOptions() }, handler);
  t.attach(server);
  return server as unknown as http.Server;
}

/**
 * node:http2's cleartext server, or its TLS one (ALPN h2, as gRPC clients expect)
 * when TLS is set. Both emit the same 'session' and 'stream' events.
 */
export function createHttp2Server(t: ServerTls | undefined, options: http2.ServerOptions): http2.Http2Server | http2.Http2SecureServer {
  if (!t) return http2.createServer(options);
  const server = http2.createSecureServer({ ...options, ...t.serverOptions() });
  t.attach(server);
  return server;
}
