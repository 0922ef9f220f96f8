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
}

export async function checkSinks(
  sink: { type: 'sqlite'; path: string } | { type: 'postgres'; url: string },
  ids: readonly string[],
  poison: ReadonlySet<string>,
): Promise<SinkCheck> {
  const { out, dead } = sink.type === 'sqlite' ? await readSqlite(sink.path) : await readPg(sink.url);
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
  };
}

async function readSqlite(path: string): Promise<{ out: string[]; dead: string[] }> {
  const { default: Database } = await import('better-sqlite3');
  const { existsSync } = await import('node:fs');
  if (!existsSync(path)) return { out: [], dead: [] }; // nothing was ever written
  const db = new Database(path, { readonly: true });
  try {
    const keys = (t: string): string[] => {
      try {
        return (db.prepare(`SELECT key FROM ${t}`).all() as { key: string }[]).map((r) => r.key);
      } catch {
        return []; // table never created (nothing written)
      }
    };
    return { out: keys('out'), dead: keys('dead') };
  } finally {
    db.close();
  }
}

async function readPg(url: string): Promise<{ out: string[]; dead: string[] }> {
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const keys = async (t: string): Promise<string[]> =>
      (await c.query(`SELECT key FROM ${t}`).catch(() => ({ rows: [] as { key: string }[] }))).rows.map((r: { key: string }) => r.key);
    return { out: await keys('out'), dead: await keys('dead') };
  } finally {
    await c.end();
  }
}
