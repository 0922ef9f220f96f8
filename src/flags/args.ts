import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ModelpipeError } from '../errors/index.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * parseArgs plus environment fallbacks: every flag --foo-bar may also come from
 * MODELPIPE_FOO_BAR (flags win), so containers can be configured by env alone.
 */
export function parseWithEnv(
  argv: string[],
  options: Options,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err: unknown) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', (err as Error).message);
  }
  const values = { ...parsed.values } as Record<string, string | boolean | string[] | undefined>;
  for (const [name, o] of Object.entries(options)) {
    if (values[name] !== undefined) continue;
    const env = process.env[`MODELPIPE_${name.toUpperCase().replace(/-/g, '_')}`];
    if (env === undefined || env === '') continue;
    values[name] = o.type === 'boolean' ? env === '1' || env.toLowerCase() === 'true' : o.multiple ? [env] : env;
  }
  return { values, positionals: parsed.positionals };
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : Array.isArray(v) ? (v.at(-1) as string | undefined) : undefined;
}

export function int(v: unknown, flag: string): number | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--${flag} must be a non-negative integer, got ${s}`);
  return n;
}

/** Sizes like 64MiB, 10mb, 1048576. */
export function bytes(v: unknown, flag: string): number | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?$/i.exec(s.trim());
  if (!m) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `--${flag}: cannot read size ${s}`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const mult: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1048576, gb: 1e9, gib: 1073741824 };
  return Math.floor(Number(m[1]) * (mult[unit] as number));
}

export function list(v: unknown): string[] | undefined {
  const s = str(v);
  return s === undefined
    ? undefined
    : s
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
