import { ModelpipeError } from '../errors/index.js';
import { toJSON } from './file-sinks.js';
import type { Sink } from './sink.js';

/**
 * SQL sinks for records. With `key`, the key column is the primary key and rows are
 * inserted with INSERT OR IGNORE (SQLite) / ON CONFLICT DO NOTHING (PostgreSQL): a
 * message redelivered after a crash (at-least-once) is not written twice. Each write is
 * one transaction, committed before write() resolves.
 */
export interface SqlSinkOptions {
  table: string;
  /** Primary-key column for idempotent inserts. */
  key?: string;
  /** Columns (default: the first record's keys). */
  columns?: readonly string[];
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkIdent(kind: string, name: string): string {
  if (!IDENT.test(name)) throw new ModelpipeError('MP_ERR_PIPELINE_DEF', `${kind} name ${JSON.stringify(name)} is not a plain identifier`);
  return `"${name}"`;
}

function sqlValue(v: unknown): string | number | bigint | Buffer | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return toJSON(v);
}

function columnsOf(o: SqlSinkOptions, first: Record<string, unknown>): string[] {
  const cols = [...(o.columns ?? Object.keys(first))];
  if (o.key !== undefined && !cols.includes(o.key)) {
    throw new ModelpipeError('MP_ERR_PIPELINE_DEF', `key column ${o.key} is not among the columns ${cols.join(', ')}`);
  }
  for (const c of cols) checkIdent('column', c);
  return cols;
}

/** SQLite file sink (better-sqlite3, WAL, synchronous=FULL). Safe to share between processes. */
export function sqliteSink<T extends Record<string, unknown>>(path: string, options: SqlSinkOptions): Sink<T> {
  const table = checkIdent('table', options.table);
  type Db = import('better-sqlite3').Database;
  let db: Db | undefined;
  let insert: ((rows: readonly T[]) => void) | undefined;
  return {
    async write(items) {
      if (items.length === 0) return;
      try {
        if (!db) {
          const { default: Database } = await import('better-sqlite3');
          // Several worker processes may open the same file at once: switching to WAL
          // can then answer SQLITE_BUSY without waiting, so setup is retried.
          db = await retryBusy(() => {
            const d = new Database(path, { timeout: 10_000 });
            try {
              d.pragma('journal_mode = WAL');
              d.pragma('synchronous = FULL');
              return d;
            } catch (e) {
              d.close();
              throw e;
            }
          });
        }
        if (!insert) {
          const cols = columnsOf(options, items[0] as T);
          const defs = cols.map((c) => `"${c}"${c === options.key ? ' PRIMARY KEY' : ''}`).join(', ');
          const d0 = db;
          await retryBusy(() => d0.exec(`CREATE TABLE IF NOT EXISTS ${table} (${defs})`));
          const verb = options.key === undefined ? 'INSERT' : 'INSERT OR IGNORE';
          const stmt = db.prepare(
            `${verb} INTO ${table} (${cols.map((c) => `"${c}"`).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
          );
          const d = db;
          const tx = d.transaction((rows: readonly T[]) => {
            for (const r of rows) stmt.run(...cols.map((c) => sqlValue(r[c])));
          });
          // BEGIN IMMEDIATE takes the write lock up front, where the busy timeout
          // applies; a deferred transaction that upgrades later can fail at once.
          insert = (rows) => tx.immediate(rows);
        }
        insert(items);
      } catch (e) {
        if (e instanceof ModelpipeError) throw e;
        throw new ModelpipeError('MP_ERR_SINK', `sqlite ${path}: ${(e as Error).message}`, { cause: e });
      }
    },
    async close() {
      db?.close();
      db = undefined;
    },
  };
}

/** Runs fn, retrying while SQLite says the database is busy or locked (up to ~10 s). */
async function retryBusy<R>(fn: () => R): Promise<R> {
  for (let attempt = 0; ; attempt++) {
    try {
      return fn();
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      if (!code.startsWith('SQLITE_BUSY') && !code.startsWith('SQLITE_LOCKED')) throw e;
      if (attempt >= 200) throw e;
      await new Promise((r) => setTimeout(r, 10 + Math.random() * 40));
    }
  }
}

/** PostgreSQL sink (pg), for a connection URL. The table is created if missing (TEXT columns). */
export function postgresSink<T extends Record<string, unknown>>(url: string, options: SqlSinkOptions): Sink<T> {
  const table = checkIdent('table', options.table);
  type Client = import('pg').Client;
  let client: Client | undefined;
  let cols: string[] | undefined;
  return {
    async write(items) {
      if (items.length === 0) return;
      try {
        if (!client) {
          const pg = (await import('pg')).default;
          const c = new pg.Client({ connectionString: url });
          await c.connect();
          client = c;
        }
        if (!cols) {
          cols = columnsOf(options, items[0] as T);
          const defs = cols.map((c) => `"${c}" TEXT${c === options.key ? ' PRIMARY KEY' : ''}`).join(', ');
          // Several workers may create it at once: PostgreSQL's IF NOT EXISTS is not atomic
          // (a loser gets a unique violation on pg_type, 23505, or 42P07): the table exists then.
          await client.query(`CREATE TABLE IF NOT EXISTS ${table} (${defs})`).catch((e: { code?: string }) => {
            if (e.code !== '23505' && e.code !== '42P07') throw e;
          });
        }
        const c = cols;
        const values: unknown[] = [];
        const tuples = items.map((r, i) => {
          const ph = c.map((k, j) => {
            values.push(pgValue(r[k]));
            return `$${i * c.length + j + 1}`;
          });
          return `(${ph.join(', ')})`;
        });
        const conflict = options.key === undefined ? '' : ` ON CONFLICT ("${options.key}") DO NOTHING`;
        await client.query(`INSERT INTO ${table} (${c.map((k) => `"${k}"`).join(', ')}) VALUES ${tuples.join(', ')}${conflict}`, values);
      } catch (e) {
        if (e instanceof ModelpipeError) throw e;
        throw new ModelpipeError('MP_ERR_SINK', `postgres: ${(e as Error).message}`, { cause: e });
      }
    },
    async close() {
      await client?.end();
      client = undefined;
    },
  };
}

function pgValue(v: unknown): string | null {
  const s = sqlValue(v);
  if (s === null) return null;
  if (Buffer.isBuffer(s)) return s.toString('base64');
  return String(s);
}
