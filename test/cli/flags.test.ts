import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { COMMANDS } from '../../src/cli/commands.js';
import { SERVE } from '../../src/cli/serve-flags.js';
import { schedulerFromFlags } from '../../src/flags/scheduler-flags.js';
import { helpText } from '../../src/flags/help.js';
import { type CommandSpec, type Flag, envName, parseFlags, parserOptions } from '../../src/flags/table.js';
import { needShared, repoRoot, sharedPath } from '../helpers/shared.js';
import { CLI, runNode, startPrintingUrl, stop } from '../helpers/spawn.js';

/**
 * Every command's parser and --help come from one flag table; these checks hold
 * them to it: what a command accepts is what its help lists, and the flags its
 * help mentions anywhere are flags it accepts.
 */

/** A value each flag accepts, to show the parser takes it. */
function sample(f: Flag): string[] {
  if (f.type === 'boolean') return [];
  return [f.choices?.[0] ?? f.default ?? (f.type === 'string' ? 'x' : '1')];
}

/** Flag names of the help's rows ("  --name …" or "  -h, --help …"). */
const rows = (help: string): string[] => help.split('\n').flatMap((l) => /^ {2}(?:-\w, )?--([a-z0-9-]+)/.exec(l)?.[1] ?? []);

/** Every --flag the help names anywhere, prose included (but the footer's --foo-bar pattern). */
const mentioned = (help: string): string[] =>
  [...help.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)].map((m) => m[1] as string).filter((n) => n !== 'foo-bar');

const specs: { command: string; spec: CommandSpec; help: string }[] = [];
for (const [command, load] of Object.entries(COMMANDS)) {
  const c = await load();
  for (const spec of c.specs) specs.push({ command, spec, help: helpText(spec) });
}

describe('every command: --help and the parser agree', () => {
  test('all commands and classy subcommands are covered', () => {
    assert.deepEqual(
      specs.map((s) => s.spec.name),
      [
        'serve',
        'infer',
        'metadata',
        'batcher',
        'classy',
        'classy up',
        'classy downloader',
        'classy preprocessor',
        'run',
        'perf',
        'tune',
        'classify-dir',
        'endpoints',
      ],
    );
  });

  for (const { spec, help } of specs) {
    test(`${spec.name}: one help row per accepted flag, and the parser accepts each`, () => {
      const accepted = Object.keys(parserOptions(spec.flags)).sort();
      assert.deepEqual([...rows(help)].sort(), accepted);
      for (const [name, f] of Object.entries(spec.flags)) {
        assert.doesNotThrow(() => parseFlags([`--${name}`, ...sample(f)], spec, {}), `--${name}`);
      }
    });

    test(`${spec.name}: every flag its help mentions is one it accepts`, () => {
      for (const name of mentioned(help)) assert.ok(Object.hasOwn(spec.flags, name), `${spec.name} --help mentions --${name}`);
    });
  }

  test('the CLI prints the help the table gives, for every command and classy subcommand', async () => {
    for (const [command, load] of Object.entries(COMMANDS)) {
      const r = await runNode([CLI, command, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trimEnd(), (await load()).help);
    }
    for (const { spec, help } of specs.filter((s) => s.spec.name.startsWith('classy '))) {
      const r = await runNode([CLI, ...spec.name.split(' '), '--help']);
      assert.equal(r.stdout.trimEnd(), help);
    }
  });

  test('an unknown flag is one MP_ERR_BAD_CONFIG line pointing at --help', async () => {
    const r = await runNode([CLI, 'batcher', '--target', 'http://127.0.0.1:1', '--max-batch', '4']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^modelpipe: MP_ERR_BAD_CONFIG: Unknown option '--max-batch'.*\(see modelpipe batcher --help\)\n$/s);
  });
});

test('every flag a command line in README.md or docs/ shows is one that command accepts', () => {
  const files = ['README.md', ...readdirSync(join(repoRoot, 'docs')).flatMap((f) => (f.endsWith('.md') ? [join('docs', f)] : []))];
  let checked = 0;
  for (const file of files) {
    // Shell continuation lines join the command they continue.
    const text = readFileSync(join(repoRoot, file), 'utf8').replace(/\\\n\s*/g, ' ');
    for (const m of text.matchAll(/modelpipe ([a-z-]+)((?: (?:up|downloader|preprocessor)\b)?)([^`#\n]*)/g)) {
      const spec = specs.find((x) => x.spec.name === `${m[1]}${m[2]}`)?.spec;
      if (spec === undefined) continue; // prose ("modelpipe serves…"), not a command line
      for (const name of mentioned(m[3] as string)) {
        assert.ok(Object.hasOwn(spec.flags, name), `${file}: modelpipe ${spec.name} does not take --${name}: ${m[0]}`);
        checked++;
      }
    }
  }
  assert.ok(checked > 20, `only ${checked} documented flags found`);
});

test("serve's typed scheduler flags reach the scheduler options", () => {
  const { values } = parseFlags(
    [
      '--max-batch-size',
      '8',
      '--max-queue-delay-us',
      '500',
      '--preferred-batch-sizes',
      '2,4',
      '--max-queue',
      '9',
      '--timeout',
      '0',
      '--no-fanout',
    ],
    SERVE,
    {},
  );
  assert.deepEqual(schedulerFromFlags(values, true), {
    batching: { maxBatchSize: 8, maxQueueDelayUs: 500, preferredBatchSizes: [2, 4] },
    maxQueueSize: 9,
    timeoutMs: 0,
    fanout: false,
  });
  assert.throws(() => parseFlags(['--preferred-batch-sizes', '2,x'], SERVE, {}), /--preferred-batch-sizes must be positive integers/);
});

const squeezenet = sharedPath('models/squeezenet1.1.onnx');

describe('the environment name the table gives works on a real serve', { skip: needShared('models/squeezenet1.1.onnx') }, () => {
  const serve = specs.find((s) => s.spec.name === 'serve') as { spec: CommandSpec; help: string };
  const variable = envName('max-batch-size', serve.spec.flags['max-batch-size'] as Flag) as string;

  /** The batching a serve started with these flags and environment reports. */
  async function batchingOf(args: string[], env: Record<string, string>): Promise<{ maxBatchSize: number }> {
    const prev = { ...process.env };
    Object.assign(process.env, env);
    // startPrintingUrl spawns at once, with this process's environment.
    const started = startPrintingUrl([CLI, 'serve', squeezenet, '--listen', '127.0.0.1:0', ...args]);
    process.env = prev;
    const s = await started;
    try {
      let line: string | undefined;
      for (let i = 0; i < 100 && line === undefined; i++) {
        line = s
          .output()
          .split('\n')
          .find((l) => l.includes('"msg":"serving '));
        if (line === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(line, s.output());
      return (JSON.parse(line) as { batching: { maxBatchSize: number } }).batching;
    } finally {
      await stop(s.proc);
    }
  }

  test(`${variable} sets --max-batch-size; the flag wins over it`, async () => {
    assert.equal(variable, 'MODELPIPE_MAX_BATCH_SIZE');
    assert.match(serve.help.replace(/\s+/g, ' '), /every flag --foo-bar can also be set as MODELPIPE_FOO_BAR/);
    assert.equal((await batchingOf([], { [variable]: '7' })).maxBatchSize, 7);
    assert.equal((await batchingOf(['--max-batch-size', '5'], { [variable]: '7' })).maxBatchSize, 5);
  });

  test(`a bad ${variable} is refused before the model loads, naming the variable`, async () => {
    const r = await runNode([CLI, 'serve', squeezenet], { [variable]: 'many' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`MP_ERR_BAD_CONFIG: --max-batch-size must be a positive integer, got many \\(from ${variable}\\)`));
  });
});
