import { ModelpipeError } from '../errors/index.js';

/**
 * A tiny YAML writer for the JSON-shaped objects of Kubernetes manifests (maps,
 * lists, strings, numbers, booleans), so no YAML dependency is needed. A string is
 * written plain only when YAML cannot read it as anything else; otherwise as a
 * JSON string, which YAML reads as the same double-quoted scalar.
 */
export function toYaml(value: unknown): string {
  return `${lines(value, 0).join('\n')}\n`;
}

/** Several objects as one multi-document stream. */
export function toYamlDocuments(values: readonly unknown[]): string {
  return values.map(toYaml).join('---\n');
}

const PLAIN = /^[A-Za-z/][A-Za-z0-9_./-]*$/;
const RESERVED = /^(true|false|yes|no|on|off|y|n|null|~)$/i;

function scalar(v: unknown): string {
  if (typeof v === 'string') return PLAIN.test(v) && !RESERVED.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  throw new ModelpipeError('MP_ERR_BAD_CONFIG', `cannot write ${typeof v} as YAML`);
}

function isEmpty(v: unknown): boolean {
  return Array.isArray(v) ? v.length === 0 : typeof v === 'object' && v !== null && Object.keys(v).length === 0;
}

function isNested(v: unknown): v is object {
  return typeof v === 'object' && v !== null && !isEmpty(v);
}

function lines(v: unknown, indent: number): string[] {
  const pad = ' '.repeat(indent);
  if (Array.isArray(v) && v.length > 0) {
    return v.flatMap((item) => {
      if (!isNested(item)) return [`${pad}- ${isEmpty(item) ? (Array.isArray(item) ? '[]' : '{}') : scalar(item)}`];
      // The first line of a nested item shares the "- " line.
      const inner = lines(item, indent + 2);
      return [`${pad}- ${(inner[0] as string).slice(indent + 2)}`, ...inner.slice(1)];
    });
  }
  if (isNested(v)) {
    return Object.entries(v).flatMap(([k, item]) => {
      const key = `${pad}${scalar(k)}:`;
      if (isNested(item)) return [key, ...lines(item, Array.isArray(item) ? indent : indent + 2)];
      return [`${key} ${isEmpty(item) ? (Array.isArray(item) ? '[]' : '{}') : scalar(item)}`];
    });
  }
  return [`${pad}${isEmpty(v) ? (Array.isArray(v) ? '[]' : '{}') : scalar(v)}`];
}
