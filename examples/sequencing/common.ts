import type { Nested } from '../../src/tensor/index.js';

/** Prints nested arrays the way Go's fmt does ([[0 1] [2 3]]), matching the article's output. */
export function goFormat(v: Nested | unknown): string {
  return Array.isArray(v) ? `[${v.map(goFormat).join(' ')}]` : String(v);
}

/** Port from argv[2] (0 = any free port). */
export function portArg(dflt: number): number {
  const p = Number(process.argv[2] ?? dflt);
  return Number.isInteger(p) ? p : dflt;
}

export const SPEC = {
  inputs: [{ name: 'in', dtype: 'float32' as const, shape: [-1, -1] }],
  outputs: [{ name: 'out', dtype: 'float32' as const, shape: [-1, -1] }],
  nested: true,
};

export const INPUT = [
  [0, 1],
  [2, 3],
];

export const mapNested = (v: Nested, f: (x: number) => number): Nested =>
  Array.isArray(v) ? v.map((x) => mapNested(x as Nested, f)) : f(Number(v));
