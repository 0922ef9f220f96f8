import type { ServerResponse } from 'node:http';
import type { ModelpipeError } from '../errors/index.js';

const SMALL = 16 * 1024;

/** Writes chunks with one corked (scatter-gather) socket write; payloads are not copied. */
export function sendChunks(
  res: ServerResponse,
  status: number,
  contentType: string,
  chunks: readonly Uint8Array[],
  headers: Record<string, string> = {},
): void {
  let total = 0;
  for (const c of chunks) total += c.length;
  res.writeHead(status, { 'content-type': contentType, 'content-length': String(total), ...headers });
  if (total <= SMALL) {
    // Small answers: one buffer, one write; cheaper than corking several tiny pieces.
    res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total));
    return;
  }
  res.cork();
  for (const c of chunks) res.write(c);
  res.uncork();
  res.end();
}

export function sendJSON(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(JSON.stringify(body));
  sendChunks(res, status, 'application/json', [bytes], headers);
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  sendChunks(res, status, 'text/plain; charset=utf-8', [Buffer.from(text)]);
}

/**
 * A reason phrase carrying the error, for clients that only show the status line
 * (graphpipe-py's raise_for_status prints "<status> <reason> for url").
 */
export function reasonPhrase(e: ModelpipeError): string {
  return `${e.code}: ${e.message}`.replace(/[^\x20-\x7e]/g, ' ').slice(0, 300);
}

/** Extra headers for errors: Retry-After on overload, the stable code for any client. */
export function errorHeaders(e: ModelpipeError): Record<string, string> {
  const h: Record<string, string> = { 'x-modelpipe-error': e.code };
  if (e.code === 'MP_ERR_QUEUE_FULL' || e.code === 'MP_ERR_MODEL_NOT_READY' || e.code === 'MP_ERR_SHUTTING_DOWN') h['retry-after'] = '1';
  return h;
}
