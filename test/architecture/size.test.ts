import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { repoRoot } from '../helpers/shared.js';
import { listSources } from './imports.js';

const SRC = join(repoRoot, 'src');
const MAX_FILE_LINES = 300;
const MAX_FUNCTION_LINES = 80;

/** Functions (declarations, methods, arrows, expressions) longer than `max` lines. */
export function longFunctions(file: string, text: string, max: number): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      if (end - start + 1 > max) {
        const name = node.name !== undefined && ts.isIdentifier(node.name) ? node.name.text : '(anonymous)';
        out.push(`${file}:${start + 1} ${name} (${end - start + 1} lines)`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

describe('architecture: sizes', () => {
  const files = listSources(SRC).map((f) => ({ f, text: readFileSync(join(SRC, f), 'utf8') }));

  it(`no file in src/ is over ${MAX_FILE_LINES} lines`, () => {
    const long = files
      .map(({ f, text }) => ({ f, n: text.split('\n').length - (text.endsWith('\n') ? 1 : 0) }))
      .filter((x) => x.n > MAX_FILE_LINES);
    assert.deepEqual(
      long.map((x) => `${x.f} (${x.n})`),
      [],
    );
  });

  it(`no function in src/ is over ${MAX_FUNCTION_LINES} lines`, () => {
    assert.deepEqual(
      files.flatMap(({ f, text }) => longFunctions(f, text, MAX_FUNCTION_LINES)),
      [],
    );
  });

  it('the function measure sees a long function (so the check above can fail)', () => {
    const body = Array.from({ length: 90 }, (_, i) => `  const a${i} = ${i};`).join('\n');
    assert.equal(longFunctions('x.ts', `function big() {\n${body}\n}\n`, MAX_FUNCTION_LINES).length, 1);
    assert.equal(longFunctions('x.ts', 'const f = () => 1;\n', MAX_FUNCTION_LINES).length, 0);
  });
});
