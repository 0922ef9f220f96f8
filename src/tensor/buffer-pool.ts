/**
 * Recycled memory for large request bodies and batches.
 *
 * Why: a served model's requests usually have one shape, so every body has the same
 * byte length. Allocating a fresh multi-megabyte ArrayBuffer per request costs page
 * faults on first touch (as much as the copy itself) and drives V8's external-memory
 * heuristics into a full GC every couple of requests, on the very cores onnxruntime
 * needs. Buffers travel main thread → worker → main thread by transfer, so a buffer
 * that comes back from a worker is provably unreferenced (every view of it on this
 * thread was detached when it left); only such buffers are given to the pool.
 */
/** Smallest buffer worth pooling: small ones are cheap and come from V8's pool anyway. */
export const POOL_MIN_BYTES = 256 * 1024;

export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  /** Insertion order of pooled buffers, oldest first, for eviction. */
  private readonly order: ArrayBuffer[] = [];
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(
    /** Most bytes kept across all sizes; the oldest buffers go first beyond it. */
    readonly maxBytes = 256 * 1024 * 1024,
    readonly minBytes = POOL_MIN_BYTES,
  ) {}

  /** A buffer of exactly `size` bytes, recycled when one is free, else freshly allocated. */
  take(size: number): ArrayBuffer {
    const list = size >= this.minBytes ? this.free.get(size) : undefined;
    const ab = list?.pop();
    if (ab === undefined) {
      if (size >= this.minBytes) this.misses++;
      return new ArrayBuffer(size);
    }
    this.hits++;
    if (list?.length === 0) this.free.delete(size);
    this.order.splice(this.order.indexOf(ab), 1);
    this.bytes -= size;
    return ab;
  }

  /** Returns a buffer nothing else references (see the class comment). */
  give(ab: ArrayBuffer): void {
    const size = ab.byteLength;
    if (size < this.minBytes || size > this.maxBytes) return;
    let list = this.free.get(size);
    if (list === undefined) {
      list = [];
      this.free.set(size, list);
    }
    list.push(ab);
    this.order.push(ab);
    this.bytes += size;
    while (this.bytes > this.maxBytes) {
      const old = this.order.shift() as ArrayBuffer;
      const l = this.free.get(old.byteLength) as ArrayBuffer[];
      l.splice(l.indexOf(old), 1);
      if (l.length === 0) this.free.delete(old.byteLength);
      this.bytes -= old.byteLength;
    }
  }

  /**
   * Takes the memory of a buffer whose contents are no longer needed (a request body
   * already copied into a merged batch): the buffer is detached, so every view of it
   * anywhere reads as empty from now on, and its memory is pooled under a new handle.
   */
  reclaim(ab: ArrayBuffer): void {
    if (ab.byteLength < this.minBytes || ab.byteLength > this.maxBytes) return;
    this.give(structuredClone(ab, { transfer: [ab] }));
  }

  get pooledBytes(): number {
    return this.bytes;
  }
}

/** The process-wide pool shared by request bodies and inference workers. */
export const largeBuffers = new BufferPool();
