import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../helpers/shared.js';
import { circles, layerOf, readImports } from './imports.js';

// The TypeScript sources, not dist/: the compiled files drop type-only imports.
const SRC = join(repoRoot, 'src');

/**
 * The layers of src/, lowest first: a file may import its own layer and any layer
 * before it, never one after it. docs/ARCHITECTURE.md states the same order and why.
 */
export const LAYERS = [
  'errors',
  'tensor',
  'protocol',
  'observe',
  'vision',
  'client',
  'models',
  'scheduling',
  'config',
  'core',
  'cache',
  'repository',
  'server',
  'sequencing',
  'runinference',
  'perf',
  'tune',
  'deploy',
  'flags',
  'apps',
  'index',
  'cli',
] as const;

const graph = readImports(SRC);

describe('architecture: imports', () => {
  it('every file of src/ lives in a known layer', () => {
    const unknown = [...graph.edges.keys()].filter((f) => !(LAYERS as readonly string[]).includes(layerOf(f)));
    assert.deepEqual(unknown, [], 'add the folder to LAYERS (and to docs/ARCHITECTURE.md)');
  });

  it('no import runs from a lower layer to a higher one', () => {
    const rank = (f: string): number => (LAYERS as readonly string[]).indexOf(layerOf(f));
    const upward: string[] = [];
    for (const [from, targets] of graph.edges) {
      for (const to of targets) if (rank(to) > rank(from)) upward.push(`${from} -> ${to}`);
    }
    assert.deepEqual(upward, []);
  });

  it('no files import each other in a circle', () => {
    assert.deepEqual(circles(graph), []);
  });

  it('the reader sees static, re-export and dynamic imports (a graph that is not empty)', () => {
    const cliMain = graph.edges.get('cli/main.ts') ?? [];
    assert.ok(cliMain.length > 3, 'cli/main.ts imports its commands');
    assert.ok(
      [...graph.edges.values()].some((t) => t.includes('runinference/api.ts')),
      'a dynamic import() is read',
    );
  });
});

describe('architecture: the circle finder', () => {
  it('finds a loop of three files and ignores a line', () => {
    const edges = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    assert.deepEqual(circles({ edges }), [['a.ts', 'b.ts', 'c.ts']]);
  });
});
