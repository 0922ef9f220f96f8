import { ModelpipeError } from '../errors/index.js';
import { type DType, type Nested, type Tensor, fromNested } from '../tensor/index.js';

/**
 * The CLI's inline JSON tensors (`--input '[[1,2]]' --dtype int64`), parsed exactly.
 * JSON.parse turns every number into a double, so 2^53+1 and int64's extremes lose
 * digits before a dtype is known; here integer literals are read as BigInt, checked
 * against the dtype's range and rejected when they do not fit, instead of wrapping.
 */

const MAX_DEPTH = 64;

/** Ranges of the integer dtypes, inclusive. */
const INT_RANGES: Partial<Record<DType, readonly [bigint, bigint]>> = {
  bool: [0n, 1n],
  uint8: [0n, 255n],
  int8: [-128n, 127n],
  uint16: [0n, 65535n],
  int16: [-32768n, 32767n],
  uint32: [0n, 4294967295n],
  int32: [-2147483648n, 2147483647n],
  uint64: [0n, 18446744073709551615n],
  int64: [-9223372036854775808n, 9223372036854775807n],
};

type Leaf = { num: string } | string | boolean;
type Parsed = Leaf | Parsed[];

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// JSON.parse checks the escapes and control characters of what this delimits.
const STRING = /"(?:[^"\\]|\\.)*"/y;

function bad(msg: string): ModelpipeError {
  return new ModelpipeError('MP_ERR_BAD_REQUEST', msg);
}

/** A JSON text of nested arrays whose numbers stay as their literals. */
export function parseJSONLiterals(text: string): Parsed {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const match = (re: RegExp): string | undefined => {
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) return undefined;
    i += m[0].length;
    return m[0];
  };
  const value = (depth: number): Parsed => {
    if (depth > MAX_DEPTH) throw bad(`arrays nested deeper than ${MAX_DEPTH}`);
    ws();
    const c = text[i];
    if (c === '[') {
      i++;
      const items: Parsed[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return items;
      }
      for (;;) {
        items.push(value(depth + 1));
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return items;
        } else throw bad(`expected , or ] at offset ${i}`);
      }
    }
    if (c === '"') {
      const s = match(STRING);
      try {
        if (s !== undefined) return JSON.parse(s) as string;
      } catch {}
      throw bad(`bad string at offset ${i}`);
    }
    if (text.startsWith('true', i) || text.startsWith('false', i)) {
      const t = text.startsWith('true', i);
      i += t ? 4 : 5;
      return t;
    }
    const n = match(NUMBER);
    if (n === undefined) throw bad(`not JSON at offset ${i} (numbers, strings, booleans and arrays only)`);
    return { num: n };
  };
  const out = value(0);
  ws();
  if (i !== text.length) throw bad(`unexpected text at offset ${i}`);
  return out;
}

/** An integer literal's exact value, if it denotes an integer (2.0 and 1e3 do). */
function integerOf(lit: string): bigint | undefined {
  if (/^-?\d+$/.test(lit)) return BigInt(lit);
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(lit);
  if (!m) return undefined;
  const exp = Number(m[4] ?? 0) - (m[3]?.length ?? 0);
  const digits = `${m[2]}${m[3] ?? ''}`;
  if (exp >= 0) return exp > 400 ? undefined : BigInt(`${m[1]}${digits}${'0'.repeat(exp)}`);
  const cut = digits.length + exp;
  if (cut < 0 || !/^0*$/.test(digits.slice(cut))) return /^0*$/.test(digits) ? 0n : undefined;
  return BigInt(`${m[1]}${digits.slice(0, cut) || '0'}`);
}

/** Leaves converted for `dtype`, integers checked against its range. */
function toNestedFor(p: Parsed, dtype: DType, path: string): Nested {
  if (Array.isArray(p)) return p.map((x, k) => toNestedFor(x, dtype, `${path}[${k}]`));
  if (typeof p === 'string' || typeof p === 'boolean') return p;
  const range = INT_RANGES[dtype];
  if (range === undefined) return Number(p.num);
  const v = integerOf(p.num);
  if (v === undefined) throw bad(`element ${path || '(root)'} is ${p.num}, not an integer (dtype ${dtype})`);
  if (v < range[0] || v > range[1])
    throw bad(`element ${path || '(root)'} is ${p.num}, out of ${dtype}'s range [${range[0]}, ${range[1]}]`);
  return v;
}

function firstLeaf(p: Parsed): Parsed {
  let cur = p;
  while (Array.isArray(cur) && cur.length > 0) cur = cur[0] as Parsed;
  return cur;
}

/** Inline JSON to a tensor of `dtype` (string when the first element is a string). */
export function tensorFromJSONText(text: string, dtype: DType): Tensor {
  const parsed = parseJSONLiterals(text);
  const dt: DType = typeof firstLeaf(parsed) === 'string' ? 'string' : dtype;
  return fromNested(toNestedFor(parsed, dt, ''), dt);
}
