import { ModelpipeError } from '../errors/index.js';
import { BadRecord, parseRecord } from './bad-record.js';
import { Flow } from './flow.js';
import { httpSource } from './http-source.js';
import type { SourceDef } from './pipeline-def.js';
import { redisStreamSource } from './redis-streams.js';
import { toJSON } from './json.js';
import { csv, files, globFiles, jsonl, stdinLines } from './sources.js';

type Row = Record<string, unknown>;

/**
 * A pipeline definition's source as [key, record] pairs, plus what the run needs to finish
 * records (acks for Redis and HTTP) and to stop it (SIGTERM). A record that cannot be
 * parsed arrives as a BadRecord with its position, whatever the source.
 */
export interface DefSource {
  keyed: Flow<[unknown, unknown]>;
  /** Called with the rows written, then with the dead letters written (their `key`). */
  ack?: (rows: readonly Row[], outcome: 'written' | 'dead') => Promise<void>;
  /** Stops intake; what was taken is still finished. */
  stop?: () => void;
  close?: () => Promise<void>;
  /** Number of inputs, when known up front (progress bar). */
  total?: number;
  /** A bounded input (files): batches fill up to maxBatchSize by default. */
  bounded: boolean;
  /** Keys identify records (a key field, an entry id, a path): sinks can be idempotent. */
  idempotent: boolean;
}

/** The key a row carries (resultToRow): a string as is, anything else as JSON. */
export const keyText = (k: unknown): string => (typeof k === 'string' ? k : toJSON(k));

type Ctx = Flow<unknown>['ctx'];
type Def<T extends SourceDef['type']> = Extract<SourceDef, { type: T }>;

/** How records are keyed: the value of `keyField` when it is set, else the position. */
class Keys {
  constructor(readonly keyField: string | undefined) {}

  field(x: unknown): unknown {
    const k = this.keyField;
    return k !== undefined && typeof x === 'object' && x !== null && !(x instanceof BadRecord) ? (x as Row)[k] : undefined;
  }

  of(x: unknown, i: number): unknown {
    return this.keyField === undefined ? i : this.field(x);
  }
}

export async function sourceFromDef(src: SourceDef, keyField: string | undefined, ctx: Ctx): Promise<DefSource> {
  const keys = new Keys(keyField);
  switch (src.type) {
    case 'redis':
      return redisDefSource(src, ctx);
    case 'files': {
      const total = (await globFiles(src.glob)).length;
      const keyed = Flow.from(files(src.glob, { mode: src.mode ?? 'binary' } as { mode?: 'binary' }), ctx).map(
        (f) => [f.path, f] as [unknown, unknown],
      );
      return { keyed, total, bounded: true, idempotent: true };
    }
    case 'http':
      return httpDefSource(src, keys, ctx);
    case 'stdin':
      return stdinDefSource(src, keys, ctx);
    default: {
      const it =
        src.type === 'jsonl'
          ? jsonl(src.path, { badRecords: 'yield' })
          : csv(src.path, { badRecords: 'yield', ...(src.delimiter ? { delimiter: src.delimiter } : {}) });
      let i = 0;
      const keyed = Flow.from(it as AsyncIterable<unknown>, ctx).map((x) => [keys.of(x, i++), x] as [unknown, unknown]);
      return { keyed, bounded: true, idempotent: keyField !== undefined };
    }
  }
}

const rowKeys = (rows: readonly Row[]): string[] => rows.map((r) => String(r.key));

/** A Redis Streams consumer group; the entry id is the key: sinks dedupe on it and the acker XACKs it. */
function redisDefSource(src: Def<'redis'>, ctx: Ctx): DefSource {
  const r = redisStreamSource({
    url: src.url,
    stream: src.stream,
    group: src.group,
    ...(src.consumer === undefined ? {} : { consumer: src.consumer }),
    ...(src.blockMs === undefined ? {} : { blockMs: src.blockMs }),
    ...(src.claimIdleMs === undefined ? {} : { claimIdleMs: src.claimIdleMs }),
    ...(src.maxDeliveries === undefined ? {} : { maxDeliveries: src.maxDeliveries }),
    exitWhenDrained: src.exitWhenDrained ?? false,
  });
  const f = src.field ?? 'data';
  const keyed = Flow.from(r, ctx).map((m): [unknown, unknown] => {
    if (m.exhausted) {
      const msg = `entry ${m.id} crashed its worker ${m.crashes ?? 0} times running alone; not run again`;
      return [m.id, new BadRecord(m.id, new ModelpipeError('MP_ERR_POISON_MESSAGE', msg))];
    }
    const text = m.fields[f];
    if (text === undefined) return [m.id, new BadRecord(m.id, new ModelpipeError('MP_ERR_SOURCE', `entry ${m.id} has no field ${f}`))];
    return [m.id, parseRecord(text, `entry ${m.id}`)];
  });
  return {
    keyed,
    ack: (rows, outcome) => r.ack(rowKeys(rows), outcome),
    stop: () => r.stop(),
    close: () => r.close(),
    bounded: false,
    idempotent: true,
  };
}

/** NDJSON POSTed to a listening server; a request is answered once its records are written or dead. */
async function httpDefSource(src: Def<'http'>, keys: Keys, ctx: Ctx): Promise<DefSource> {
  const keyOf = (x: unknown): string | undefined => (keys.field(x) === undefined ? undefined : keyText(keys.field(x)));
  const h = await httpSource({
    ...(src.port === undefined ? {} : { port: src.port }),
    ...(src.host ? { host: src.host } : {}),
    ...(src.path ? { path: src.path } : {}),
    ...(keys.keyField === undefined ? {} : { keyOf }),
  });
  process.stderr.write(`listening on ${h.url}\n`);
  const written = h.acker((row: Row) => String(row.key), 'written');
  const dead = h.acker((row: Row) => String(row.key), 'dead');
  return {
    keyed: Flow.from(h, ctx).map((r) => [r.key, r.value] as [unknown, unknown]),
    ack: (rows, outcome) => (outcome === 'written' ? written : dead).write(rows),
    stop: () => h.stop(),
    close: () => h.close(),
    bounded: false,
    idempotent: keys.keyField !== undefined,
  };
}

/** Lines of standard input: JSON records (blank lines skipped) or raw text lines. */
function stdinDefSource(src: Def<'stdin'>, keys: Keys, ctx: Ctx): DefSource {
  let i = 0;
  let line = 0;
  const text = src.format === 'text';
  const keyed = Flow.from(stdinLines(), ctx)
    .map((l) => [++line, l] as const)
    .filter(([, l]) => text || l.trim() !== '')
    .map(([n, l]) => {
      const x = text ? l : parseRecord(l, `stdin:${n}`);
      return [keys.of(x, i++), x] as [unknown, unknown];
    });
  return { keyed, bounded: false, idempotent: keys.keyField !== undefined };
}
