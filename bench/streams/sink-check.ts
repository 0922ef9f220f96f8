/**
 * Reads the output and dead-letter tables back (SQLite or PostgreSQL) and compares them
 * with the entry ids that were added: what is missing, what is duplicated, what is extra.
 */
export interface SinkCheck {
  outputRows: number;
  missing: number;
  duplicates: number;
  deadRows: number;
  poisonDeadLettered: number;
  /** Good entries that were dead-lettered instead of written. */
  goodDeadLettered: number;
  /** The first few of those dead letters' messages (why they failed). */
  goodDeadMessages: string[];
}

export async function checkSinks(
  sink: { type: 'sqlite'; path: string } | { type: 'postgres'; url: string },
  ids: readonly string[],
  poison: ReadonlySet<string>,
): Promise<SinkCheck> {
  const { out, dead: deadRows } = sink.type === 'sqlite' ? await readSqlite(sink.path) : await readPg(sink.url);
  const dead = deadRows.map((d) => d.key);
  const messages = new Map(deadRows.map((d) => [d.key, `${d.code}: ${d.message}`]));
  const outSet = new Set(out);
  const deadSet = new Set(dead);
  const good = ids.filter((id) => !poison.has(id));
  return {
    outputRows: out.length,
    missing: good.filter((id) => !outSet.has(id)).length,
    duplicates: out.length - outSet.size + (dead.length - deadSet.size),
    deadRows: dead.length,
    poisonDeadLettered: [...poison].filter((id) => deadSet.has(id)).length,
    goodDeadLettered: good.filter((id) => deadSet.has(id)).length,
    goodDeadMessages: good
      .filter((id) => deadSet.has(id))
      .slice(0, 3)
      .map((id) => messages.get(id) ?? ''),
  };
}

type DeadRow = { key: string; code: string; message: string };

async function readSqlite(path: string): Promise<{ out: string[]; dead: DeadRow[] }> {
  const { default: Database } = await import('better-sqlite3');
  const { existsSync } = await import('node:fs');
  if (!existsSync(path)) return { out: [], dead: [] }; // nothing was ever written
  const db = new Database(path, { readonly: true });
  try {
    const rows = <R>(sql: string): R[] => {
      try {
        return db.prepare(sql).all() as R[];
      } catch {
        return []; // table never created (nothing written)
      }
    };
    return {
      out: rows<{ key: string }>('SELECT key FROM out').map((r) => r.key),
      dead: rows<DeadRow>('SELECT key, code, message FROM dead'),
    };
  } finally {
    db.close();
  }
}

async function readPg(url: string): Promise<{ out: string[]; dead: DeadRow[] }> {
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const rows = async <R>(sql: string): Promise<R[]> => (await c.query(sql).catch(() => ({ rows: [] as R[] }))).rows as R[];
    return {
      out: (await rows<{ key: string }>('SELECT key FROM out')).map((r) => r.key),
      dead: await rows<DeadRow>('SELECT key, code, message FROM dead'),
    };
  } finally {
    await c.end();
  }
}
