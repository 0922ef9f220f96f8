import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ModelpipeError } from '../errors/index.js';
import { readBytes, readInt, splitList } from './args.js';

/**
 * One declaration per command-line flag. From a command's table come its parser
 * (node:util parseArgs options), its --help text (help.ts), the MODELPIPE_*
 * environment names and the typed values the command reads.
 */

export type FlagType = 'string' | 'boolean' | 'int' | 'number' | 'bytes' | 'list';

export interface Flag {
  readonly type: FlagType;
  /** One sentence or a few; --help wraps it. */
  readonly help: string;
  /** Placeholder shown after the flag in --help (default from the type: N, SIZE, a,b…). */
  readonly value?: string;
  /** Applied when neither the flag nor its environment variable is set; written as on the command line. */
  readonly default?: string;
  /** Shown as the default in --help when the value comes from elsewhere (the library, a config file). */
  readonly defaultNote?: string;
  readonly choices?: readonly string[];
  /** Smallest int or number accepted (ints: 0 unless said). */
  readonly min?: number;
  /** Repeatable string flag: its value is every occurrence, in order. */
  readonly multiple?: boolean;
  /** Environment variable instead of the derived MODELPIPE_<FLAG>; false: none. */
  readonly env?: string | false;
  readonly short?: string;
  /** Further validation of the typed value: a message when it is wrong. */
  readonly check?: (value: never) => string | undefined;
}

export type FlagTable = Readonly<Record<string, Flag>>;

export interface FlagGroup<T extends FlagTable = FlagTable> {
  /** Heading line in --help (none: the flags follow the previous group). */
  readonly title?: string;
  readonly flags: T;
  /** Lines printed under the group's flags, at the help column. */
  readonly note?: string;
}

export function flagGroup<const T extends FlagTable>(flags: T, title?: string, note?: string): FlagGroup<T> {
  return { flags, ...(title !== undefined ? { title } : {}), ...(note !== undefined ? { note } : {}) };
}

/** Some of a shared table's flags, for a command that takes only those. */
export function pickFlags<const T extends FlagTable, K extends keyof T & string>(table: T, ...names: K[]): Pick<T, K> {
  return Object.fromEntries(names.map((n) => [n, table[n]])) as Pick<T, K>;
}

export const HELP_FLAG = { help: { type: 'boolean', short: 'h', env: false, help: 'print this help' } } as const satisfies FlagTable;

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
type Merged<G extends readonly FlagGroup[]> = UnionToIntersection<G[number]['flags']> & typeof HELP_FLAG;

export interface CommandSpec<T extends FlagTable = FlagTable> {
  /** As typed after `modelpipe`: "serve", "classy up". */
  readonly name: string;
  /** The rest of the first help line: arguments, then a short description. */
  readonly usage: string;
  /** Lines between the usage line and the flags (already indented). */
  readonly about?: string;
  readonly groups: readonly FlagGroup[];
  /** Lines after the flags (already indented). */
  readonly footer?: string;
  /** Every flag the command takes, --help included. */
  readonly flags: T;
}

export function defineCommand<const G extends readonly FlagGroup[]>(s: {
  name: string;
  usage: string;
  about?: string;
  groups: G;
  footer?: string;
}): CommandSpec<Merged<G>> {
  const flags: Record<string, Flag> = {};
  for (const g of [...s.groups, { flags: HELP_FLAG }]) {
    for (const [name, f] of Object.entries(g.flags)) {
      // Two declarations of one flag would make parsing and --help disagree.
      if (Object.hasOwn(flags, name)) throw new ModelpipeError('MP_ERR_INTERNAL', `${s.name}: flag --${name} is declared twice`);
      flags[name] = f;
    }
  }
  return { ...s, flags: flags as Merged<G> };
}

type ValueOf<F> = F extends { type: 'boolean' }
  ? boolean
  : F extends { type: 'int' | 'number' | 'bytes' }
    ? number
    : F extends { type: 'list' } | { multiple: true }
      ? string[]
      : string;
type Defaulted<T> = { [K in keyof T]: T[K] extends { default: string } ? K : never }[keyof T];

/** A command's parsed flags: flags with a default always have a value. */
export type FlagValues<T extends FlagTable> = { -readonly [K in Exclude<keyof T, Defaulted<T>>]?: ValueOf<T[K]> } & {
  -readonly [K in Defaulted<T>]: ValueOf<T[K]>;
};

/** MODELPIPE_MAX_BATCH_SIZE for --max-batch-size, unless the flag names its own (or none). */
export function envName(name: string, f: Flag): string | undefined {
  if (f.env === false) return undefined;
  return f.env ?? derivedEnvName(name);
}

export function derivedEnvName(name: string): string {
  return `MODELPIPE_${name.toUpperCase().replace(/-/g, '_')}`;
}

export function parserOptions(flags: FlagTable): NonNullable<ParseArgsConfig['options']> {
  return Object.fromEntries(
    Object.entries(flags).map(([name, f]) => [
      name,
      {
        type: f.type === 'boolean' ? ('boolean' as const) : ('string' as const),
        ...(f.multiple ? { multiple: true } : {}),
        ...(f.short !== undefined ? { short: f.short } : {}),
      },
    ]),
  );
}

/**
 * Parses argv by the command's table: a flag on the command line wins over its
 * environment variable, which wins over the declared default. A mistake is one
 * MP_ERR_BAD_CONFIG line naming the flag (and the variable, when it came from one).
 */
export function parseFlags<T extends FlagTable>(
  argv: string[],
  spec: CommandSpec<T>,
  env: NodeJS.ProcessEnv = process.env,
): { values: FlagValues<T>; positionals: string[] } {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options: parserOptions(spec.flags), allowPositionals: true, strict: true });
  } catch (err: unknown) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${(err as Error).message} (see modelpipe ${spec.name} --help)`);
  }
  const values: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(spec.flags)) {
    const given = parsed.values[name] as string | boolean | string[] | undefined;
    if (given !== undefined) {
      values[name] = typed(given, f, `--${name}`);
      continue;
    }
    const variable = envName(name, f);
    const text = variable === undefined ? undefined : env[variable];
    if (text !== undefined && text !== '') values[name] = saying(`from ${variable}`, () => typed(text, f, `--${name}`));
    else if (f.default !== undefined) values[name] = saying('its default', () => typed(f.default as string, f, `--${name}`));
  }
  return { values: values as FlagValues<T>, positionals: parsed.positionals };
}

/** A value's mistake with where the value came from, when not from the command line. */
function saying(source: string, read: () => unknown): unknown {
  try {
    return read();
  } catch (err: unknown) {
    if (err instanceof ModelpipeError) throw new ModelpipeError(err.code, `${err.message} (${source})`);
    throw err;
  }
}

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];

function typed(raw: string | boolean | string[], f: Flag, label: string): unknown {
  if (typeof raw === 'boolean') return raw;
  if (f.type === 'boolean') {
    const s = String(raw).toLowerCase();
    if (TRUE.includes(s)) return true;
    if (FALSE.includes(s)) return false;
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${label} is a switch: expected 1/true/yes/on or 0/false/no/off, got ${raw}`);
  }
  const all = Array.isArray(raw) ? raw : [raw];
  // An environment variable sets a repeatable flag once.
  const value = f.multiple ? all.map((s) => scalar(s, f, label)) : scalar(all.at(-1) as string, f, label);
  const problem = f.check?.(value as never);
  if (problem !== undefined) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${label} ${problem}`);
  return value;
}

function scalar(s: string, f: Flag, label: string): unknown {
  if (f.choices !== undefined && !f.choices.includes(s)) {
    const options = f.choices.length === 2 ? f.choices.join(' or ') : `one of ${f.choices.join(', ')}`;
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${label} must be ${options}, got ${s}`);
  }
  switch (f.type) {
    case 'int':
      return readInt(s, label, f.min ?? 0);
    case 'bytes':
      return readBytes(s, label);
    case 'list':
      return splitList(s);
    case 'number': {
      const n = s.trim() === '' ? Number.NaN : Number(s);
      if (Number.isFinite(n) && n >= (f.min ?? Number.NEGATIVE_INFINITY)) return n;
      throw new ModelpipeError(
        'MP_ERR_BAD_CONFIG',
        `${label} must be a number${f.min !== undefined ? ` of at least ${f.min}` : ''}, got ${s}`,
      );
    }
    default:
      return s;
  }
}
