import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

/**
 * The import graph of `src/`, read from the source text (static imports, re-exports
 * and `import('…')` with a literal), for the architecture tests. Type-only imports
 * count too: a type that points upward is a layer leak all the same.
 */
export interface ImportGraph {
  /** src-relative file → src-relative files it imports. */
  edges: Map<string, string[]>;
}

const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)|^import\s+['"](\.[^'"]+)['"]/gm;

export function listSources(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listSources(p, base));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(relative(base, p));
  }
  return out.sort();
}

export function readImports(srcDir: string): ImportGraph {
  const edges = new Map<string, string[]>();
  for (const file of listSources(srcDir)) {
    const text = readFileSync(join(srcDir, file), 'utf8');
    const targets: string[] = [];
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (spec === undefined) continue;
      const target = normalize(join(dirname(file), spec)).replace(/\.js$/, '.ts');
      if (!target.startsWith('..')) targets.push(target);
    }
    edges.set(file, targets);
  }
  return { edges };
}

/** The layer a file belongs to: its top folder under src/, or the file itself at the root. */
export function layerOf(file: string): string {
  const slash = file.indexOf('/');
  return slash < 0 ? file.replace(/\.ts$/, '') : file.slice(0, slash);
}

/** Strongly connected components of more than one file (Tarjan), each sorted. */
export function circles(graph: ImportGraph): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.edges.get(v) ?? []) {
      if (!graph.edges.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v) as number, idx.get(w) as number));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of graph.edges.keys()) if (!idx.has(v)) visit(v);
  return out;
}
