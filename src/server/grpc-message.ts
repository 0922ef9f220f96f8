import { gunzipSync, inflateSync } from 'node:zlib';
import { status } from '@grpc/grpc-js';
import { fieldDataOffset } from '../protocol/oip/index.js';
import { largeBuffers } from '../tensor/index.js';
import type { BodyBudget } from './body-budget.js';
import { alignedBuffer } from './body.js';

export class GrpcError extends Error {
  constructor(
    readonly code: status,
    readonly details: string,
    readonly metadata: Readonly<Record<string, string>> = {},
  ) {
    super(details);
  }
}

/** Messages up to this size get their buffer at once: small, and bounded by the budget anyway. */
const EAGER_BYTES = 64 * 1024;

/**
 * Assembles one length-prefixed request message from a stream's chunks.
 *
 * The announced length is not trusted with memory: until half of the message
 * has arrived, its bytes stay in the chunks they came in (charged to the budget
 * by the memory behind them); then the message's buffer is taken (recycled,
 * placed so `alignField` lands 64-byte aligned), the early chunks are copied in
 * and later ones go straight into it. Every byte is still copied once, as before,
 * while a client that announces 64 MiB and stalls holds only what it sent.
 */
export class MessageReader {
  private readonly head = Buffer.alloc(5);
  private headHave = 0;
  private length = 0;
  private early: Buffer[] = [];
  private earlyBytes = 0;
  private lastBacking: ArrayBufferLike | undefined;
  private body: Buffer | undefined;
  private have = 0;
  /** Bytes charged to the budget. */
  private held = 0;
  /** Finished or abandoned: later chunks are ignored. */
  released = false;

  constructor(
    private readonly budget: BodyBudget,
    private readonly max: number,
    private readonly alignField: number | undefined,
  ) {}

  /** Takes a chunk of the stream; throws a GrpcError when the message must be refused. */
  push(chunk: Buffer): void {
    let at = 0;
    if (this.headHave < 5) {
      at = chunk.copy(this.head, this.headHave, 0, Math.min(5 - this.headHave, chunk.length));
      this.headHave += at;
      if (this.headHave < 5) return;
      this.length = this.head.readUInt32BE(1);
      if ((this.head[0] as number) > 1) throw new GrpcError(status.INTERNAL, `invalid compressed-flag byte ${this.head[0]}`);
      if (this.length > this.max) {
        throw new GrpcError(status.RESOURCE_EXHAUSTED, `message of ${this.length} bytes exceeds the limit of ${this.max} bytes`);
      }
      if (this.length === 0) this.body = Buffer.alloc(0);
    }
    if (at === chunk.length) return;
    const n = chunk.length - at;
    if (this.have + this.earlyBytes + n > this.length) throw new GrpcError(status.UNIMPLEMENTED, 'more than one message in a unary call');
    if (this.body) {
      this.have += chunk.copy(this.body, this.have, at);
      return;
    }
    const part = at === 0 ? chunk : chunk.subarray(at);
    // A chunk is a view of the socket read it came in: that read is what it keeps alive.
    if (part.buffer !== this.lastBacking) {
      this.charge(part.buffer.byteLength);
      this.lastBacking = part.buffer;
    }
    this.early.push(part);
    this.earlyBytes += n;
    if (this.length <= EAGER_BYTES || this.earlyBytes * 2 >= this.length) this.allocate();
  }

  private allocate(): void {
    const first = this.early[0] as Buffer;
    const align = this.head[0] === 0 && this.alignField !== undefined ? fieldDataOffset(first, this.alignField) : undefined;
    // From what the early chunks keep alive to the message's own buffer.
    if (this.length > this.held) this.charge(this.length - this.held);
    else this.budget.release(this.held - this.length);
    this.held = this.length;
    this.body = alignedBuffer(this.length, align ?? 0);
    for (const c of this.early) this.have += c.copy(this.body, this.have);
    this.early = [];
    this.earlyBytes = 0;
    this.lastBacking = undefined;
  }

  private charge(n: number): void {
    if (!this.budget.tryReserve(n)) {
      throw new GrpcError(
        status.RESOURCE_EXHAUSTED,
        `the server holds ${this.budget.used} bytes of unfinished messages, its limit of ${this.budget.limit}; try again later`,
      );
    }
    this.held += n;
  }

  /** The complete message and whether it is compressed; throws a GrpcError when it is incomplete. */
  finish(): { message: Buffer; compressed: boolean } {
    const body = this.body;
    if (!body || this.have !== body.length) {
      throw new GrpcError(status.INTERNAL, this.headHave === 0 ? 'no request message' : 'truncated request message');
    }
    this.budget.release(this.held);
    this.held = 0;
    this.body = undefined;
    this.released = true;
    return { message: body, compressed: this.head[0] === 1 };
  }

  /** Gives back what an abandoned message holds (its pooled buffer included). */
  release(): void {
    this.released = true;
    this.budget.release(this.held);
    this.held = 0;
    this.early = [];
    this.earlyBytes = 0;
    if (this.body && this.body.length > 0) largeBuffers.reclaim(this.body.buffer as ArrayBuffer);
    this.body = undefined;
  }
}

/**
 * The decompressed message, in memory of its own (handlers may transfer views of
 * it to a worker; zlib's result can be a slice of Node's shared small-buffer pool).
 */
export function decompress(b: Buffer, encoding: string, max: number): Buffer {
  if (encoding === 'identity') throw new GrpcError(status.INTERNAL, 'compressed message without a grpc-encoding');
  try {
    const d = encoding === 'gzip' ? gunzipSync(b, { maxOutputLength: max }) : inflateSync(b, { maxOutputLength: max });
    if (d.byteOffset === 0 && d.byteLength === d.buffer.byteLength) return d;
    const own = alignedBuffer(d.length, 0);
    d.copy(own);
    return own;
  } catch (err: unknown) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new GrpcError(status.RESOURCE_EXHAUSTED, `decompressed message exceeds the limit of ${max} bytes`);
    }
    throw err;
  }
}
