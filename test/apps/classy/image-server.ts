import { readFileSync, readdirSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sharedPath } from '../../helpers/shared.js';

/**
 * A real HTTP server on 127.0.0.1 (port 0) that plays every kind of image host the
 * downloader must cope with. It records what happened so tests can assert on the
 * server side too (hits, aborted responses, peak concurrency).
 */
export interface ImageServer {
  readonly base: string;
  readonly port: number;
  /** Paths requested, in order. */
  readonly hits: string[];
  /** Paths whose response the client abandoned before it ended. */
  readonly abandoned: string[];
  /** Bytes written per streaming path before the client went away. */
  readonly written: Map<string, number>;
  /** Most /delay requests in flight at once. */
  peakDelay: number;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg' };

export function imageBytes(name: string): Buffer {
  return readFileSync(sharedPath(`images/${name}`));
}

export async function startImageServer(): Promise<ImageServer> {
  // Only files that exist in the shared folder are served, by exact name.
  const files = new Set(readdirSync(sharedPath('images')));
  let inDelay = 0;
  const state = { hits: [] as string[], abandoned: [] as string[], written: new Map<string, number>(), peakDelay: 0 };

  const serveImage = (res: ServerResponse, name: string, type?: string): void => {
    const body = imageBytes(name);
    res.writeHead(200, { 'content-type': type ?? TYPES[name.slice(name.lastIndexOf('.'))] ?? 'image/png', 'content-length': body.length });
    res.end(body);
  };
  const redirect = (res: ServerResponse, location: string): void => {
    res.writeHead(302, { location });
    res.end('moved');
  };
  const watchAbandon = (req: IncomingMessage, res: ServerResponse, path: string): void => {
    res.on('close', () => {
      if (!res.writableFinished) state.abandoned.push(path);
    });
    req.resume();
  };

  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    state.hits.push(path);
    const port = (server.address() as AddressInfo).port;
    const image = /^\/images\/([\w.-]+)$/.exec(path)?.[1];
    if (image !== undefined && files.has(image)) return serveImage(res, image);
    const hops = /^\/redirect\/(\d+)$/.exec(path)?.[1];
    if (hops !== undefined) {
      const n = Number(hops);
      return n === 0 ? serveImage(res, 'mug227.png') : redirect(res, `/redirect/${n - 1}`);
    }
    if (/^\/delay\/\d+$/.test(path)) {
      inDelay++;
      state.peakDelay = Math.max(state.peakDelay, inDelay);
      setTimeout(() => {
        inDelay--;
        serveImage(res, 'mug227.png');
      }, 100);
      return;
    }
    switch (path) {
      case '/slow': // headers never come
        watchAbandon(req, res, path);
        return;
      case '/slow-body': // headers come, the body stalls after 10 bytes
        watchAbandon(req, res, path);
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': 1000 });
        res.write(Buffer.alloc(10));
        return;
      case '/big-announced': // Content-Length far beyond the limit; the body never comes
        watchAbandon(req, res, path);
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': 50_000_000 });
        res.flushHeaders();
        return;
      case '/big-chunked': {
        // No Content-Length: streams 256 KiB chunks until the client hangs up (large
        // chunks, so a loaded machine still passes the 1 MiB limit well within the timeout).
        watchAbandon(req, res, path);
        res.writeHead(200, { 'content-type': 'image/png' });
        let sent = 0;
        const pump = (): void => {
          if (res.destroyed || sent > 64 * 1024 * 1024) return;
          sent += 256 * 1024;
          state.written.set(path, sent);
          if (res.write(Buffer.alloc(256 * 1024))) setImmediate(pump);
          else res.once('drain', pump);
        };
        pump();
        return;
      }
      case '/corrupt.png': // PNG signature, then garbage: passes the type checks, fails to decode
        res.writeHead(200, { 'content-type': 'image/png' });
        res.end(Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(200, 7)]));
        return;
      case '/missing.png':
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found');
        return;
      case '/page.html':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<html></html>');
        return;
      case '/no-type':
        res.end(imageBytes('mug227.png'));
        return;
      case '/octet':
        return serveImage(res, 'mug227.png', 'application/octet-stream');
      case '/to-metadata':
        return redirect(res, 'http://169.254.169.254/latest/meta-data/');
      case '/to-v6-loopback':
        return redirect(res, `http://[::1]:${port}/images/mug227.png`);
      case '/to-file':
        return redirect(res, 'file:///etc/passwd');
      case '/relative':
        return redirect(res, '../images/hummingbird.jpg');
      default:
        res.writeHead(404);
        res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    base: `http://127.0.0.1:${port}`,
    port,
    close: async (): Promise<void> => {
      server.closeAllConnections(); // the stalled routes hold sockets open on purpose
      await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
    },
  });
}
