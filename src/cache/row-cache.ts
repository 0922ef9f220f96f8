import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type Database, type RootDatabase, open } from 'lmdb';
import type { RunThrough } from '../core/engine.js';
import type { Metrics } from '../observe/metrics.js';
import type { PreparedCall } from '../scheduling/call.js';
import { decodeInferResponse, encodeInferResponse } from '../protocol/graphpipe/index.js';
import { type Tensor, concat, row } from '../tensor/index.js';
import { rowKeys } from './row-key.js';

export interface RowCacheOptions {
  /** Directory of the LMDB environment. */
  dir: string;
  /** Upper bound on stored result bytes; the oldest entries are evicted beyond it (default 1 GiB). */
  maxBytes?: number;
}

export function defaultRowCacheDir(): string {
  return process.env.MODELPIPE_CACHE_DIR ?? join(homedir(), '.cache', 'modelpipe', 'rows');
}

/** SHA-256 of a file: part of a model's cache identity, so a changed file never hits old rows. */
export async function fileIdentity(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

interface ModelStore {
  entries: Database<Uint8Array, Buffer>;
  /** Insertion order (seq → key) for FIFO eviction. */
  order: Database<Buffer, number>;
  seq: number;
  bytes: number;
}

/**
 * A persistent row-level result cache in LMDB (memory-mapped, so a lookup is a
 * synchronous read that costs microseconds). Only the rows that miss are sent to
 * the model; hits and fresh rows are merged back in order, and fresh rows are
 * stored after the response has been produced. Stored rows are GraphPipe
 * InferResponse messages: the codec we already trust, no second format.
 */
export class RowCache {
  private readonly stores = new Map<string, ModelStore>();

  private constructor(
    private readonly root: RootDatabase,
    private readonly maxBytes: number,
  ) {}

  static open(opts: RowCacheOptions): RowCache {
    const root = open({ path: opts.dir, compression: false, mapSize: 2 * (opts.maxBytes ?? 2 ** 30) + 2 ** 26 });
    return new RowCache(root, opts.maxBytes ?? 2 ** 30);
  }

  /**
   * The store of one model. When the model's identity (file hash + version) changed
   * since the cache was written, its old rows are dropped: they can never hit again.
   */
  private store(model: string, identity: string): ModelStore {
    const existing = this.stores.get(model);
    if (existing) return existing;
    const entries = this.root.openDB<Uint8Array, Buffer>({ name: `rows:${model}`, encoding: 'binary', keyEncoding: 'binary' });
    const order = this.root.openDB<Buffer, number>({ name: `order:${model}`, encoding: 'binary', keyEncoding: 'uint32' });
    const meta = this.root.openDB<string, string>({ name: 'identity', encoding: 'string' });
    if (meta.get(model) !== identity) {
      entries.clearSync();
      order.clearSync();
      meta.putSync(model, identity);
    }
    let seq = 0;
    let bytes = 0;
    for (const { key } of order.getRange({ reverse: true, limit: 1 })) seq = key;
    for (const { value } of entries.getRange()) bytes += value.length;
    const s = { entries, order, seq, bytes };
    this.stores.set(model, s);
    return s;
  }

  /** A RunThrough hook for the engine: answers cached rows, runs the rest. */
  runThrough(model: string, identity: string, metrics: Metrics): RunThrough {
    const store = this.store(model, identity);
    const hit = metrics.cache.labels({ model, result: 'hit' });
    const miss = metrics.cache.labels({ model, result: 'miss' });
    return async (call, run) => {
      const rows = rowCount(call);
      if (rows === undefined) return run(call);
      const keys = rowKeys(identity, call, rows);
      const cached: (Tensor[] | undefined)[] = keys.map((k) => {
        const v = store.entries.get(k);
        return v === undefined ? undefined : decodeInferResponse(v).outputs; // views into lmdb's copy: no second copy;
      });
      const missing = cached.flatMap((c, i) => (c === undefined ? [i] : []));
      hit.inc(rows - missing.length);
      miss.inc(missing.length);
      if (missing.length === 0) return { outputs: mergeRows(cached as Tensor[][], call.outputNames.length), queueMs: 0, computeMs: 0 };
      const sub: PreparedCall = missing.length === rows ? call : { ...call, inputs: gatherRows(call, missing) };
      const r = await run(sub);
      missing.forEach((rowIndex, k) => {
        cached[rowIndex] = r.outputs.map((t) => row(t, k));
      });
      const outputs = mergeRows(cached as Tensor[][], call.outputNames.length);
      setImmediate(() =>
        this.write(
          store,
          missing.map((i) => [keys[i] as Buffer, cached[i] as Tensor[]]),
        ),
      );
      return { outputs, queueMs: r.queueMs, computeMs: r.computeMs };
    };
  }

  private write(store: ModelStore, items: [Buffer, Tensor[]][]): void {
    void this.root.transaction(() => {
      for (const [key, outs] of items) {
        const bytes = encodeInferResponse({ outputs: outs, errors: [] });
        store.entries.put(key, Buffer.from(bytes));
        store.order.put(++store.seq, key);
        store.bytes += bytes.length;
      }
      // FIFO eviction: drop the oldest rows until the store fits its budget again.
      for (const { key, value } of store.order.getRange()) {
        if (store.bytes <= this.maxBytes) break;
        const old = store.entries.get(value);
        if (old !== undefined) store.bytes -= old.length;
        store.entries.remove(value);
        store.order.remove(key);
      }
    });
  }

  /** Waits for pending writes (tests and shutdown). */
  async flush(): Promise<void> {
    await new Promise((r) => setImmediate(r));
    await this.root.flushed;
  }

  async close(): Promise<void> {
    await this.flush();
    await this.root.close();
  }
}

/** Rows along dimension 0, when every input has one and they agree. */
function rowCount(call: PreparedCall): number | undefined {
  let n: number | undefined;
  for (const t of call.inputs.values()) {
    const r = t.shape[0];
    if (r === undefined || (n !== undefined && r !== n)) return undefined;
    n = r;
  }
  return n === 0 ? undefined : n;
}

function gatherRows(call: PreparedCall, idx: readonly number[]): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, t] of call.inputs) out.set(name, concat(idx.map((i) => row(t, i))));
  return out;
}

function mergeRows(rows: readonly Tensor[][], outputs: number): Tensor[] {
  return Array.from({ length: outputs }, (_, o) => concat(rows.map((r) => r[o] as Tensor)));
}
