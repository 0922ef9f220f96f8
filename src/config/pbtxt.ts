import { type ErrorCode, ModelpipeError } from '../errors/index.js';

/**
 * Triton's config.pbtxt (protobuf text format) read into the JSON form the config
 * parser checks. Small and bounded: what model configs use (scalars, enums as bare
 * names, messages `f { … }` or `f: { … }`, lists `f: [ … ]` or a field repeated, `#`
 * comments), no extensions or Any; a file over MAX_BYTES or nested over MAX_DEPTH is
 * refused. The schema's repeated fields come back as lists even with one entry.
 */
const MAX_BYTES = 1 << 20;
const MAX_DEPTH = 32;

/** Fields that are lists in model_config.proto (so one entry is a one-element list). */
const REPEATED = new Set(['input', 'output', 'instance_group', 'preferred_batch_size', 'dims', 'versions', 'parameters', 'gpus']);

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'" };

type Value = string | number | boolean | Value[] | { [k: string]: Value };

const TOKEN = /\s+|#[^\n]*|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[{}[\]:,;<>]|[-+]?[\w.]+/y;

function tokenize(text: string, fail: (why: string) => never): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(text);
    if (!m) fail(`unexpected character ${JSON.stringify(text[at])} at offset ${at}`);
    const t = m[0];
    if (!/^\s/.test(t) && !t.startsWith('#')) out.push(t);
  }
  return out;
}

class Reader {
  private i = 0;
  constructor(
    private readonly tokens: string[],
    readonly fail: (why: string) => never,
  ) {}

  peek(): string | undefined {
    return this.tokens[this.i];
  }
  next(): string {
    const t = this.tokens[this.i++];
    return t ?? this.fail('unexpected end of file');
  }
  eat(t: string): boolean {
    if (this.peek() !== t) return false;
    this.i++;
    return true;
  }
}

function scalar(t: string, r: Reader): Value {
  if (t.startsWith('"') || t.startsWith("'"))
    return t.slice(1, -1).replace(/\\(.)/g, (_, c: string) => ESCAPES[c] ?? r.fail(`unknown escape \\${c}`));
  if (t === 'true' || t === 'false') return t === 'true';
  if (/^[-+]?\d+(\.\d*)?([eE][-+]?\d+)?$/.test(t)) return Number(t);
  if (/^[A-Za-z_]\w*$/.test(t)) return t; // an enum value (TYPE_FP32, KIND_CPU)
  return r.fail(`unexpected ${JSON.stringify(t)}`);
}

function value(r: Reader, depth: number): Value {
  if (depth > MAX_DEPTH) r.fail(`nested deeper than ${MAX_DEPTH}`);
  const t = r.next();
  if (t === '{' || t === '<') return message(r, t === '{' ? '}' : '>', depth + 1);
  if (t === '[') {
    const list: Value[] = [];
    while (!r.eat(']')) {
      list.push(value(r, depth + 1));
      r.eat(',');
    }
    return list;
  }
  return scalar(t, r);
}

function message(r: Reader, end: string | undefined, depth: number): { [k: string]: Value } {
  const out: { [k: string]: Value } = {};
  while (end === undefined ? r.peek() !== undefined : !r.eat(end)) {
    const name = r.next();
    if (!/^[A-Za-z_]\w*$/.test(name)) r.fail(`expected a field name, got ${JSON.stringify(name)}`);
    r.eat(':');
    const v = value(r, depth);
    if (REPEATED.has(name)) out[name] = [...((out[name] as Value[] | undefined) ?? []), ...(Array.isArray(v) ? v : [v])];
    else if (name in out) r.fail(`field ${name} given twice`);
    else out[name] = v;
    if (!r.eat(',')) r.eat(';');
  }
  return out;
}

/** Protobuf's map<string, ModelParameter> is written as repeated {key, value} entries. */
function maps(o: { [k: string]: Value }, fail: (why: string) => never): void {
  const p = o.parameters;
  if (!Array.isArray(p)) return;
  const map: { [k: string]: Value } = {};
  for (const e of p) {
    const entry = e as { key?: Value; value?: Value };
    if (typeof entry?.key !== 'string') fail('parameters entries need a string key');
    map[entry.key] = entry.value ?? {};
  }
  o.parameters = map;
}

/** Parses config.pbtxt text; a syntax error fails with `code`, naming `where`. */
export function parsePbtxt(text: string, where: string, code: ErrorCode = 'MP_ERR_BAD_CONFIG'): Record<string, unknown> {
  const fail = (why: string): never => {
    throw new ModelpipeError(code, `${where}: not valid protobuf text: ${why}`);
  };
  if (text.length > MAX_BYTES) fail(`larger than ${MAX_BYTES} bytes`);
  const out = message(new Reader(tokenize(text, fail), fail), undefined, 0);
  maps(out, fail);
  return out;
}
