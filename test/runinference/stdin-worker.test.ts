import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ModelpipeError } from '../../src/errors/index.js';
import { lines } from '../../src/runinference/index.js';
import { EXIT_BAD_DEFINITION } from '../../src/runinference/scaleout.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runinf-io-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const _isCode = (code: string) => (e: unknown) => e instanceof ModelpipeError && e.code === code;

describe('streaming stdin → stdout in a worker process', () => {
  const script = () => fileURLToPath(new URL('../../src/runinference/worker-main.js', import.meta.url));
  const handler = () => fileURLToPath(new URL('../fixtures/runinference/slow-double.js', import.meta.url));

  it('answers each stdin line while the input is still open', { timeout: 30_000 }, async () => {
    const pipeline = join(dir, 'stdin.json');
    await writeFile(
      pipeline,
      JSON.stringify({
        source: { type: 'stdin' },
        handler: { type: 'module', path: handler() },
        batching: { maxBatchSize: 8, maxWaitMs: 20 },
        sink: { type: 'stdout' },
        progress: false,
        summary: false,
      }),
    );
    const child = spawn(process.execPath, [script(), pipeline], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out = lines(child.stdout)[Symbol.asyncIterator]();
    // Streaming: the first answer arrives before stdin is closed.
    child.stdin.write('{"x":1}\n');
    const first = await out.next();
    assert.equal(JSON.parse(first.value as string).inference, 2);
    child.stdin.end('{"x":2}\n{"x":3}\n');
    const rest: unknown[] = [];
    for (let r = await out.next(); !r.done; r = await out.next()) rest.push(JSON.parse(r.value));
    const results = rest.filter((r) => (r as { inference?: number }).inference !== undefined) as { inference: number }[];
    assert.deepEqual(
      results.map((r) => r.inference),
      [4, 6],
    );
    const final = rest.at(-1) as { items: number };
    assert.equal(final.items, 3);
  });

  it('a bad pipeline file ends the worker with a JSON error line and status 78 (not restarted), no stack trace', async () => {
    await writeFile(
      join(dir, 'bad.json'),
      JSON.stringify({ source: { type: 'jsonl' }, handler: { type: 'onnx', model: 'x' }, sink: { type: 'stdout' } }),
    );
    const child = spawn(process.execPath, [script(), join(dir, 'bad.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    const code = await new Promise((r) => child.on('exit', r));
    assert.equal(code, EXIT_BAD_DEFINITION);
    const err = JSON.parse(stdout.trim()) as { error: { code: string; message: string } };
    assert.equal(err.error.code, 'MP_ERR_PIPELINE_DEF');
    assert.match(err.error.message, /source\.path/);
    assert.doesNotMatch(stderr, /at .*\.js:\d+/);
  });
});
