import { readFile, rename, writeFile } from 'node:fs/promises';

/**
 * Removes duplicate lines by their `key` field from a JSONL file (the first one stays).
 * Several workers append to one file and a worker killed after writing but before acking
 * leaves an entry that is written again by whoever takes it over; SQL sinks ignore the
 * second insert, a JSONL file needs this pass when the run ends. Lines without a key
 * (or not JSON) are kept. Returns the number of lines removed.
 */
export async function compactJsonlByKey(path: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return 0; // nothing was written
  }
  const seen = new Set<string>();
  const out: string[] = [];
  let removed = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let key: unknown;
    try {
      key = (JSON.parse(line) as { key?: unknown }).key;
    } catch {
      key = undefined;
    }
    if (typeof key === 'string' || typeof key === 'number') {
      const k = String(key);
      if (seen.has(k)) {
        removed++;
        continue;
      }
      seen.add(k);
    }
    out.push(line);
  }
  if (removed === 0) return 0;
  const tmp = `${path}.compact-${process.pid}`;
  await writeFile(tmp, out.map((l) => `${l}\n`).join(''));
  await rename(tmp, path);
  return removed;
}
