import { ModelpipeError } from '../errors/index.js';

/**
 * Readers of single flag values. The flag table (table.ts) already hands commands
 * typed values; these also accept the raw text, so a caller given either works.
 */

export function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return Array.isArray(v) ? (v.at(-1) as string | undefined) : undefined;
}

export function int(v: unknown, flag: string): number | undefined {
  if (typeof v === 'number') return v;
  const s = str(v);
  return s === undefined ? undefined : readInt(s, `--${flag}`, 0);
}

/** An integer of at least `min`; `label` names where the text came from in the error. */
export function readInt(s: string, label: string, min: number): number {
  const n = s.trim() === '' ? Number.NaN : Number(s);
  if (Number.isInteger(n) && n >= min) return n;
  const what = min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : `an integer of at least ${min}`;
  throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${label} must be ${what}, got ${s}`);
}

/** Sizes like 64MiB, 10mb, 1048576. */
export function bytes(v: unknown, flag: string): number | undefined {
  if (typeof v === 'number') return v;
  const s = str(v);
  return s === undefined ? undefined : readBytes(s, `--${flag}`);
}

const UNIT: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1048576, gb: 1e9, gib: 1073741824 };

export function readBytes(s: string, label: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?$/i.exec(s.trim());
  if (!m) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${label}: cannot read size ${s} (e.g. 1048576, 64KiB, 10MB, 1GiB)`);
  return Math.floor(Number(m[1]) * (UNIT[(m[2] ?? 'b').toLowerCase()] as number));
}

export function list(v: unknown): string[] | undefined {
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  const s = str(v);
  return s === undefined ? undefined : splitList(s);
}

/** "a, b,,c" → ["a", "b", "c"]. */
export function splitList(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}

/** host:port, :port or port. */
export function listenAddress(v: string | undefined): { host: string; port: number } {
  const s = v ?? '127.0.0.1:9000';
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d+)$/.exec(s);
  if (!m) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--listen: expected host:port, got ${s}`);
  return { host: m[1] || '127.0.0.1', port: Number(m[2]) };
}
