import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ModelpipeError } from '../../src/errors/index.js';
import { bytes, int, list, str } from '../../src/flags/args.js';
import { helpText } from '../../src/flags/help.js';
import { defineCommand, envName, flagGroup, parseFlags, parserOptions } from '../../src/flags/table.js';

const CMD = defineCommand({
  name: 'demo',
  usage: 'THING [options]',
  groups: [
    flagGroup(
      {
        count: { type: 'int', min: 1, default: '3', help: 'how many' },
        size: { type: 'bytes', help: 'how big', defaultNote: '1GiB' },
        names: { type: 'list', help: 'which ones' },
        mode: { type: 'string', choices: ['fast', 'slow'], help: 'how' },
        ratio: { type: 'number', min: 0, help: 'how much' },
        tag: { type: 'string', multiple: true, help: 'labels' },
        loud: { type: 'boolean', help: 'shout' },
        secret: { type: 'string', env: 'DEMO_SECRET', help: 'a secret' },
        local: { type: 'string', env: false, help: 'never from the environment' },
        even: { type: 'int', check: (n: number) => (n % 2 === 0 ? undefined : `must be even, got ${n}`), help: 'an even number' },
      },
      'Things:',
    ),
  ],
});

function badConfig(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ModelpipeError);
    assert.equal(err.code, 'MP_ERR_BAD_CONFIG');
    assert.match(err.message, message);
    return true;
  });
}

describe('flag table: parsing', () => {
  test('values arrive typed; defaults apply; unset flags stay undefined', () => {
    const { values: v, positionals } = parseFlags(
      ['x', '--size', '64KiB', '--names', 'a, b,,c', '--mode', 'slow', '--ratio', '0.5', '--tag', 'p', '--tag', 'q', '--loud'],
      CMD,
      {},
    );
    assert.deepEqual(positionals, ['x']);
    assert.equal(v.count, 3);
    assert.equal(v.size, 65536);
    assert.deepEqual(v.names, ['a', 'b', 'c']);
    assert.equal(v.mode, 'slow');
    assert.equal(v.ratio, 0.5);
    assert.deepEqual(v.tag, ['p', 'q']);
    assert.equal(v.loud, true);
    assert.equal(v.secret, undefined);
    assert.equal(v.help, undefined);
  });

  test('MODELPIPE_* variables fill in flags; the command line wins; overrides and opt-outs are honoured', () => {
    const env = {
      MODELPIPE_COUNT: '7',
      MODELPIPE_LOUD: 'true',
      DEMO_SECRET: 's',
      MODELPIPE_SECRET: 'wrong',
      MODELPIPE_LOCAL: 'no',
      MODELPIPE_TAG: 'e',
    };
    const fromEnv = parseFlags([], CMD, env).values;
    assert.equal(fromEnv.count, 7);
    assert.equal(fromEnv.loud, true);
    assert.equal(fromEnv.secret, 's');
    assert.equal(fromEnv.local, undefined);
    assert.deepEqual(fromEnv.tag, ['e']);
    const both = parseFlags(['--count', '2'], CMD, env).values;
    assert.equal(both.count, 2);
    assert.equal(parseFlags([], CMD, { MODELPIPE_LOUD: '0' }).values.loud, false);
    assert.equal(parseFlags([], CMD, { MODELPIPE_COUNT: '' }).values.count, 3, 'an empty variable is unset');
    assert.equal(envName('max-batch-size', { type: 'int', help: '' }), 'MODELPIPE_MAX_BATCH_SIZE');
  });

  test('bad values are MP_ERR_BAD_CONFIG naming the flag, and the variable when it came from one', () => {
    badConfig(() => parseFlags(['--count', '0'], CMD, {}), /^--count must be a positive integer, got 0$/);
    badConfig(() => parseFlags(['--count', '2x'], CMD, {}), /--count must be a positive integer, got 2x/);
    badConfig(
      () => parseFlags([], CMD, { MODELPIPE_COUNT: 'lots' }),
      /--count must be a positive integer, got lots \(from MODELPIPE_COUNT\)/,
    );
    badConfig(() => parseFlags(['--size', 'huge'], CMD, {}), /--size: cannot read size huge/);
    badConfig(() => parseFlags(['--mode', 'medium'], CMD, {}), /--mode must be fast or slow, got medium/);
    badConfig(() => parseFlags(['--ratio=-1'], CMD, {}), /--ratio must be a number of at least 0, got -1/);
    badConfig(() => parseFlags([], CMD, { MODELPIPE_LOUD: 'maybe' }), /--loud is a switch.*got maybe \(from MODELPIPE_LOUD\)/);
    badConfig(() => parseFlags(['--even', '3'], CMD, {}), /--even must be even, got 3/);
    badConfig(() => parseFlags(['--nope'], CMD, {}), /Unknown option '--nope'.*see modelpipe demo --help/);
    badConfig(() => parseFlags(['--count'], CMD, {}), /--count/);
  });

  test('a flag declared twice in one command is refused when the command is defined', () => {
    const g = flagGroup({ x: { type: 'int', help: 'x' } });
    assert.throws(() => defineCommand({ name: 'twice', usage: '', groups: [g, g] }), /--x is declared twice/);
  });
});

describe('flag table: --help', () => {
  const help = helpText(CMD);
  const lines = help.split('\n');

  test('one aligned row per flag, placeholders and defaults shown, grouped under titles', () => {
    assert.equal(lines[0], 'modelpipe demo THING [options]');
    assert.ok(lines.includes('  Things:'));
    const row = (flag: string) => lines.find((l) => l.startsWith(`  --${flag}`)) ?? '';
    assert.equal(row('count'), `${'  --count N'.padEnd(28)}how many (default: 3)`);
    assert.equal(row('size'), `${'  --size SIZE'.padEnd(28)}how big (default: 1GiB)`);
    assert.match(row('mode'), /--mode fast\|slow/);
    assert.match(row('tag'), /labels \(repeatable\)/);
    assert.match(row('secret'), /\[env DEMO_SECRET\]/);
    assert.ok(lines.includes('  -h, --help                print this help'));
    for (const l of lines) assert.ok(l.length <= 110, `wrapped: ${l}`);
  });

  test('every parser option has its row and every row is a parser option', () => {
    const rows = lines.flatMap((l) => /^ {2}(?:-\w, )?--([a-z0-9-]+)/.exec(l)?.[1] ?? []);
    assert.deepEqual(rows.sort(), Object.keys(parserOptions(CMD.flags)).sort());
  });

  test('the footer states the environment rule with an example, the overrides and the opt-outs', () => {
    const flat = help.replace(/\s+/g, ' ');
    assert.match(flat, /MODELPIPE_FOO_BAR \(e\.g\. MODELPIPE_COUNT for --count\)/);
    assert.match(flat, /or as the variable shown beside it/);
    assert.match(flat, /a flag on the command line wins/);
    assert.match(flat, /Not from the environment: --local\./);
  });
});

test("the value readers take the table's typed values as well as raw text", () => {
  assert.equal(int(5, 'n'), 5);
  assert.equal(int('5', 'n'), 5);
  assert.equal(bytes(1024, 's'), 1024);
  assert.equal(bytes('1KiB', 's'), 1024);
  assert.deepEqual(list(['a', 'b']), ['a', 'b']);
  assert.deepEqual(list('a,b'), ['a', 'b']);
  assert.equal(str(7), '7');
  badConfig(() => int('-1', 'n'), /--n must be a non-negative integer, got -1/);
});
