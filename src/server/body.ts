import type { IncomingMessage } from 'node:http';
import { ModelpipeError } from '../errors/index.js';
import { largeBuffers } from '../tensor/index.js';
import { bodyBudgetOf } from './body-budget.js';

/**
 * Reads a request body into memory of its own (a fresh ArrayBuffer at offset 0):
 * decoded tensors are views into it, 64-byte aligned as our encoder lays them out,
 * and the buffer may be transferred to a worker thread without copying, since no
 * other request shares it (unlike Buffer's pooled small allocations). Large bodies
 * reuse buffers that inference workers handed back (see BufferPool). `alignAt` is
 * a body offset that should land 64-byte aligned (where OIP's binary tensors start,
 * after a JSON header of any length), so they decode as views instead of copies.
 */
export function readBody(req: IncomingMessage, limit: number, alignAt = 0): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(
        new ModelpipeError(
          'MP_ERR_BODY_TOO_LARGE',
          `request body of ${declared} bytes exceeds the limit of ${limit} bytes ${limitHint(limit)}`,
        ),
      );
      return;
    }
    // Memory held until the body is complete counts against the server's budget.
    const lease = bodyBudgetOf(req)?.lease();
    const fail = (e: ModelpipeError): void => {
      lease?.release();
      req.removeAllListeners('data');
      req.resume();
      reject(e);
    };
    const overBudget = (): ModelpipeError =>
      new ModelpipeError('MP_ERR_BODY_MEMORY', 'too much memory is held by unfinished request bodies; retry later');
    const hasLength = Number.isFinite(declared) && declared > 0;
    if (hasLength && lease !== undefined && !lease.growTo(declared)) {
      fail(overBudget());
      return;
    }
    let buf: Uint8Array | undefined = hasLength ? alignedBuffer(declared, alignAt) : undefined;
    const chunks: Buffer[] = [];
    let received = 0;
    let extra = 0; // bytes gathered in `chunks`
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) {
        fail(new ModelpipeError('MP_ERR_BODY_TOO_LARGE', `request body exceeds the limit of ${limit} bytes ${limitHint(limit)}`));
        return;
      }
      if (buf !== undefined && received <= buf.length) {
        buf.set(chunk, received - chunk.length);
        return;
      }
      extra += chunk.length;
      if (lease !== undefined && !lease.growTo((buf?.length ?? 0) + extra)) fail(overBudget());
      else chunks.push(chunk);
    });
    req.on('end', () => {
      lease?.release();
      if (buf !== undefined && received === buf.length && chunks.length === 0) {
        resolve(buf);
        return;
      }
      // No or wrong Content-Length: gather what came.
      const out = Buffer.allocUnsafeSlow(received);
      let o = 0;
      if (buf !== undefined) {
        const n = Math.min(received, buf.length);
        out.set(buf.subarray(0, n), 0);
        o = n;
      }
      for (const c of chunks) {
        out.set(c, o);
        o += c.length;
      }
      buf = undefined;
      resolve(out);
    });
    // An aborted upload ends in 'close' without 'end': give its memory back.
    req.on('close', () => {
      if (!req.complete) fail(new ModelpipeError('MP_ERR_CANCELLED', 'request body ended early: the client went away'));
    });
    req.on('error', (e) => fail(new ModelpipeError('MP_ERR_CANCELLED', `request body failed: ${e.message}`)));
  });
}

/** `size` bytes of (recycled) memory placed so that offset `alignAt` is 64-byte aligned. */
export function alignedBuffer(size: number, alignAt: number): Buffer {
  if (alignAt <= 0 || alignAt >= size) return Buffer.from(largeBuffers.take(size));
  const pad = (64 - (alignAt % 64)) % 64;
  return Buffer.from(largeBuffers.take(size + 64), pad, size);
}

/** Says what the limit counts and how to change it. */
function limitHint(limit: number): string {
  return `(${(limit / 1048576).toFixed(1)} MiB for the whole message, tensor data and envelope; the server's --body-limit sets it)`;
}
