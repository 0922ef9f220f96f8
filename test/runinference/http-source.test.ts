import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const handler = fileURLToPath(new URL('../fixtures/runinference/double-or-crash.js', import.meta.url));
let dir = '';
let child: ChildProcess | undefined;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runinf-http-'));
});
after(async () => {
  child?.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

const lineCount = async (p: string): Promise<number> =>
  (await readFile(p, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '').length;

describe('HTTP source under `modelpipe run` (defect 3)', () => {
  it('answers 200 once records are written, dead-letters a bad line, finishes accepted work on SIGTERM', { timeout: 60_000 }, async () => {
    const out = join(dir, 'out.jsonl');
    const pipeline = join(dir, 'http.json');
    await writeFile(
      pipeline,
      JSON.stringify({
        source: { type: 'http' },
        handler: { type: 'module', path: handler },
        batching: { maxBatchSize: 64, maxWaitMs: 200 },
        sink: { type: 'jsonl', path: out },
        deadLetter: { type: 'jsonl', path: join(dir, 'dead.jsonl') },
        progress: false,
      }),
    );
    const c = spawn(process.execPath, [cli, 'run', pipeline], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    let stderr = '';
    c.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((r) => c.on('exit', (code) => r(code)));
    const t0 = Date.now();
    while (!/listening on (\S+)/.test(stderr)) {
      assert.ok(Date.now() - t0 < 20_000, `no listening line: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const url = (/listening on (\S+)/.exec(stderr) as RegExpExecArray)[1] as string;
    assert.match(url, /\/ingest$/);

    // Five records, fewer than a batch: answered once written (the partial batch is flushed).
    const five = Array.from({ length: 5 }, (_, i) => JSON.stringify({ x: i })).join('\n');
    const r1 = await fetch(url, { method: 'POST', body: `${five}\n` });
    assert.equal(r1.status, 200);
    assert.deepEqual(await r1.json(), { accepted: 5, written: 5, deadLetters: 0 });
    assert.equal(await lineCount(out), 5, 'answered before its records were written');

    const r2 = await fetch(url, { method: 'POST', body: '{"x":10}\nnot json\n{"x":11}\n' });
    assert.equal(r2.status, 200);
    assert.deepEqual(await r2.json(), { accepted: 3, written: 2, deadLetters: 1 });
    assert.equal(await lineCount(join(dir, 'dead.jsonl')), 1);

    // A request in progress when SIGTERM arrives is finished and answered.
    const inProgress = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(url, { method: 'POST' }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => {
          body += d.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.write('{"x":20}\n{"x":21}\n');
      setTimeout(() => {
        c.kill('SIGTERM');
        setTimeout(() => req.end('{"x":22}\n'), 300);
      }, 300);
    });
    const r3 = await inProgress;
    assert.equal(r3.status, 200, r3.body);
    assert.deepEqual(JSON.parse(r3.body), { accepted: 3, written: 3, deadLetters: 0 });
    // New requests are refused (503, or the listener is already gone).
    const late = await fetch(url, { method: 'POST', body: '{"x":30}\n' }).then(
      (r) => r.status,
      () => 0,
    );
    assert.ok(late < 200 || late >= 300, `a request after SIGTERM got ${late}`);
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /RunInference/, 'no summary printed');
    assert.equal(await lineCount(out), 10);
  });
});
