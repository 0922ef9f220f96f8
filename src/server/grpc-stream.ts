import http2 from 'node:http2';
import { status } from '@grpc/grpc-js';
import { grpcPrefix } from '../protocol/oip/index.js';
import { GrpcError, type MessageReader, decompress } from './grpc-message.js';

/**
 * One unary call's bytes on its HTTP/2 stream, for the gRPC transport
 * (grpc-transport.ts, which owns connections, limits and dispatch): reading the
 * request message into a MessageReader, answering with a status or with the
 * response message's chunks, and never letting a gone peer throw.
 */

export const GRPC_CONTENT_TYPE = 'application/grpc+proto';
const ACCEPT = 'identity,deflate,gzip';

const UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** grpc-timeout ("100m", "5S") in ms; undefined when absent or malformed. */
export function parseGrpcTimeout(v: string | undefined): number | undefined {
  const m = v === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(v);
  return m ? Number(m[1]) * (UNITS[m[2] as string] as number) : undefined;
}

/**
 * Runs `op` on a stream unless the peer is gone. Node throws from respond(),
 * sendTrailers() and friends once a stream is closed (ERR_HTTP2_INVALID_STREAM),
 * and a throw inside an event handler would end the process; a gone peer needs
 * nothing more than the stream's end.
 */
export function guarded(stream: http2.ServerHttp2Stream, op: () => void): void {
  if (stream.destroyed || stream.closed) return;
  try {
    op();
  } catch {
    stream.destroy();
  }
}

/** Ends a call with a status (no message), then stops whatever the client still sends. */
export function answerStatus(stream: http2.ServerHttp2Stream, e: GrpcError): void {
  if (!stream.headersSent) {
    const h = {
      ':status': 200,
      'content-type': GRPC_CONTENT_TYPE,
      'grpc-status': String(e.code),
      'grpc-message': encodeURIComponent(e.details),
    };
    guarded(stream, () => stream.respond({ ...h, ...e.metadata }, { endStream: true }));
  }
  setImmediate(() => guarded(stream, () => stream.close(http2.constants.NGHTTP2_NO_ERROR)));
}

/**
 * Feeds the stream to `reader` until its message is complete (`onMessage`, decompressed
 * per `encoding`) or refused (`fail`); a message that stops arriving for `idleMs` fails.
 */
export function receiveMessage(
  stream: http2.ServerHttp2Stream,
  reader: MessageReader,
  opts: { encoding: string; idleMs: number; maxMessageBytes: number },
  fail: (e: GrpcError) => void,
  onMessage: (msg: Buffer) => void,
): void {
  const idle = opts.idleMs;
  if (idle > 0) {
    stream.setTimeout(idle, () => fail(new GrpcError(status.DEADLINE_EXCEEDED, `the request message stalled: no bytes for ${idle} ms`)));
  }
  stream.on('data', (chunk: Buffer) => {
    if (reader.released) return;
    try {
      reader.push(chunk);
    } catch (err: unknown) {
      fail(err as GrpcError);
    }
  });
  stream.on('end', () => {
    // A stream the peer reset or dropped also ends: nobody is left to answer.
    if (reader.released || stream.closed || stream.destroyed) return;
    stream.setTimeout(0); // the message is complete; the handler has its own deadlines
    let msg: Buffer;
    try {
      const m = reader.finish();
      msg = m.compressed ? decompress(m.message, opts.encoding, opts.maxMessageBytes) : m.message;
    } catch (err: unknown) {
      fail(err instanceof GrpcError ? err : new GrpcError(status.INTERNAL, `cannot decompress the message: ${(err as Error).message}`));
      return;
    }
    onMessage(msg);
  });
}

/** Writes a response message; a client that stops reading it is reset after `idleMs`. */
export function sendMessage(stream: http2.ServerHttp2Stream, idleMs: number, size: number, chunks: readonly Uint8Array[]): void {
  guarded(stream, () => {
    if (idleMs > 0) stream.setTimeout(idleMs, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    stream.respond({ ':status': 200, 'content-type': GRPC_CONTENT_TYPE, 'grpc-accept-encoding': ACCEPT }, { waitForTrailers: true });
    stream.once('wantTrailers', () => guarded(stream, () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': '' })));
    stream.write(grpcPrefix(size));
    for (const c of chunks) stream.write(c);
    stream.end();
  });
}
