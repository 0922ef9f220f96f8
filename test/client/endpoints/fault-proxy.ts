import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

/**
 * Relays in front of a real modelpipe server that inject one failure per model call
 * (health checks always pass through): the exact failures failover must tell apart.
 * `drop` ends the connection after reading the request, before any response byte.
 */
export type Fault = 'ok' | 'drop' | 400 | 429 | 503;

export interface FaultProxy {
  readonly url: string;
  fault: Fault;
  /** Model calls that reached this relay (health checks not counted). */
  hits: number;
  close(): Promise<void>;
}

const isHealth = (path: string | undefined): boolean => /\/(health\/ready|control\/is_ready|ServerReady)$/.test(path ?? '');

/** An HTTP/1.1 relay (GraphPipe, OIP REST). */
export async function httpFaultProxy(targetPort: number, fault: Fault = 'ok'): Promise<FaultProxy> {
  const srv = http.createServer((req, res) => {
    const health = isHealth(req.url);
    if (!health) p.hits++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const fault = health ? 'ok' : p.fault;
      if (fault === 'drop') {
        req.socket.destroy();
        return;
      }
      if (fault !== 'ok') {
        const headers: Record<string, string> = fault === 429 ? { 'retry-after': '30' } : {};
        res.writeHead(fault, { ...headers, 'content-type': 'text/plain' }).end(`injected ${fault}`);
        return;
      }
      const up = http.request({ port: targetPort, host: '127.0.0.1', method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end(Buffer.concat(chunks));
    });
  });
  srv.keepAliveTimeout = 500;
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const p: FaultProxy = {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    fault,
    hits: 0,
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
  return p;
}

/** gRPC statuses standing for the HTTP faults: UNAVAILABLE, INVALID_ARGUMENT, and pushback for throttling. */
const GRPC_FAULT: Record<number, Record<string, string>> = {
  503: { 'grpc-status': '14', 'grpc-message': 'injected unavailable' },
  400: { 'grpc-status': '3', 'grpc-message': 'injected invalid argument' },
  429: { 'grpc-status': '8', 'grpc-message': 'injected throttling', 'grpc-retry-pushback-ms': '30000' },
};

/** An HTTP/2 relay for gRPC (h2c). */
export async function grpcFaultProxy(targetPort: number, fault: Fault = 'ok'): Promise<FaultProxy> {
  const up = http2.connect(`http://127.0.0.1:${targetPort}`);
  up.on('error', () => {});
  const srv = http2.createServer();
  srv.on('stream', (stream, headers) => {
    const health = isHealth(headers[':path']);
    if (!health) p.hits++;
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => {});
    stream.on('end', () => {
      const fault = health ? 'ok' : p.fault;
      if (fault === 'drop') {
        // Outside the stream's own event (destroying the session from inside it can crash node's http2).
        const session = stream.session;
        setImmediate(() => session?.destroy());
        return;
      }
      if (fault !== 'ok') {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...GRPC_FAULT[fault] }, { endStream: true });
        return;
      }
      const { ':method': _m, ':path': path, ':scheme': _s, ':authority': _a, ...rest } = headers;
      const out = up.request({ ':method': 'POST', ':path': path, ...rest });
      // The client's side may be gone (a dropped session) by the time the server answers.
      const live = () => !stream.destroyed && !stream.closed;
      out.on('response', (h) => live() && stream.respond(h, { waitForTrailers: true }));
      out.on('data', (c: Buffer) => live() && stream.write(c));
      let trailers: http2.OutgoingHttpHeaders = {};
      out.on('trailers', (t) => {
        trailers = t;
      });
      stream.on('wantTrailers', () => live() && stream.sendTrailers(trailers));
      out.on('end', () => live() && stream.end());
      out.on('error', () => stream.destroy());
      out.end(Buffer.concat(chunks));
    });
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  srv.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const p: FaultProxy = {
    url: `grpc://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    fault,
    hits: 0,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        up.destroy();
        srv.close(() => r());
      }),
  };
  return p;
}

/** A URL nothing listens on (a port just released). */
export async function deadUrl(scheme: 'http' | 'grpc'): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `${scheme}://127.0.0.1:${port}`;
}
