import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { repoRoot } from '../helpers/shared.js';
import { listSources } from './imports.js';

const SRC = join(repoRoot, 'src');

/** The built-in error classes modelpipe code must not raise: callers match on a code, and these have none. */
const PLAIN = new Set(['Error', 'TypeError', 'RangeError', 'SyntaxError', 'ReferenceError']);

/**
 * Places that build a plain error on purpose: `file` (src-relative) and a piece of the
 * offending line's text, with the reason. Anything else fails the test below.
 */
const ALLOWED: readonly { file: string; text: string; reason: string }[] = [
  {
    file: 'apps/classy/download.ts',
    text: 'no address for',
    reason: "a dns.lookup callback's error (errno-style, code ENOTFOUND) for undici; the downloader maps the failed fetch to MP_ERR_FETCH",
  },
  {
    file: 'client/http-transport.ts',
    text: 'throw transportError(',
    reason: 'an AbortError/TimeoutError stand-in handed straight to transportError, which returns a RemoteError with a code',
  },
];

/** `file:line text` for each `new Error(…)`, `Error(…)` or `throw new TypeError(…)` etc. in the source text. */
export function plainErrors(file: string, text: string): { file: string; line: number; text: string }[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const lines = text.split('\n');
  const out: { file: string; line: number; text: string }[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isNewExpression(node) || ts.isCallExpression(node)) && ts.isIdentifier(node.expression) && PLAIN.has(node.expression.text)) {
      const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      out.push({ file, line: line + 1, text: (lines[line] ?? '').trim() });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function allowed(hit: { file: string; text: string }): boolean {
  return ALLOWED.some((a) => a.file === hit.file && hit.text.includes(a.text));
}

describe('architecture: errors', () => {
  it('src/ raises no plain Error, TypeError or RangeError outside the allow-list (every error is a ModelpipeError with a code)', () => {
    const hits = listSources(SRC).flatMap((f) => plainErrors(f, readFileSync(join(SRC, f), 'utf8')));
    assert.deepEqual(
      hits.filter((h) => !allowed(h)).map((h) => `${h.file}:${h.line} ${h.text}`),
      [],
    );
  });

  it('the scan sees plain errors, thrown or passed on, and ignores strings, comments and ModelpipeError', () => {
    const src = [
      "throw new Error('a');",
      "reject(new TypeError('b'));",
      "throw RangeError('c');",
      "throw new ModelpipeError('MP_ERR_INTERNAL', 'd');",
      "const s = \"throw new Error('e')\"; // throw new Error('f')",
    ].join('\n');
    assert.deepEqual(
      plainErrors('x.ts', src).map((h) => h.line),
      [1, 2, 3],
    );
  });

  it('every allow-list entry says why', () => {
    for (const a of ALLOWED) assert.ok(a.reason.length > 20, `${a.file}: ${a.text}`);
  });
});
