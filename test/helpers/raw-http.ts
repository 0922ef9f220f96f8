import { type Socket, connect } from 'node:net';

/**
 * Raw TCP clients for server-limit tests: what a hostile or broken client does
 * (half-sent headers, stalled bodies, pipelining) and no HTTP library allows.
 */

export interface RawConn {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves when the server closed the connection (or it failed). */
  closed: Promise<void>;
  isClosed(): boolean;
}

export function rawConnect(url: string, first?: string | Uint8Array): Promise<RawConn> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    let done = false;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      text += d;
    });
    const closed = new Promise<void>((r) => {
      socket.once('close', () => {
        done = true;
        r();
      });
    });
    socket.on('error', () => {}); // resets are an expected way to be closed
    socket.once('connect', () => {
      if (first !== undefined) socket.write(first);
      resolve({ socket, received: () => text, closed, isClosed: () => done });
    });
    socket.once('error', reject);
  });
}

/** Opens `n` connections, `batch` at a time, each sending `first`. */
export async function rawMany(url: string, n: number, first: string, batch = 200): Promise<RawConn[]> {
  const out: RawConn[] = [];
  for (let i = 0; i < n; i += batch) {
    const k = Math.min(batch, n - i);
    out.push(...(await Promise.all(Array.from({ length: k }, () => rawConnect(url, first)))));
  }
  return out;
}

/** Waits until `pred()` holds, polling; throws after `ms` (a bound, not a timing assertion). */
export async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The status code and headers of the first response in `text` (lower-cased names). */
export function firstResponse(text: string): { status: number; headers: Record<string, string> } {
  const [head = ''] = text.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers };
}

/** Closes every connection still open. */
export function destroyAll(conns: readonly RawConn[]): void {
  for (const c of conns) c.socket.destroy();
}
