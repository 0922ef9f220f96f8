import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ModelpipeError } from '../../src/errors/index.js';
import { chain } from '../../src/sequencing/sequencing.js';
import { DIST, runNode, startPrintingUrl, stop } from '../helpers/spawn.js';

const ex = (f: string) => join(DIST, 'examples', 'sequencing', f);

describe('the three sequencing architectures, as runnable examples', () => {
  const procs: ChildProcess[] = [];
  let multiply = '';
  let add = '';
  let serverSeq = '';
  let hybrid = '';
  before(async () => {
    const m = await startPrintingUrl([ex('multiply.js'), '0']);
    const a = await startPrintingUrl([ex('add.js'), '0']);
    multiply = m.url;
    add = a.url;
    const s = await startPrintingUrl([ex('server-sequencing-server.js'), '0', add]);
    // The hybrid server may call the add server and the dead port of the test below.
    const h = await startPrintingUrl([ex('hybrid-sequencing-server.js'), '0', add, 'http://127.0.0.1:9']);
    serverSeq = s.url;
    hybrid = h.url;
    procs.push(m.proc, a.proc, s.proc, h.proc);
  });
  after(async () => {
    for (const p of procs) await stop(p);
  });

  test('client sequencing prints the article output', async () => {
    const r = await runNode([ex('client-sequencing.js'), multiply, add]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '[[0 1] [2 3]]\n[[0 2] [4 6]]\n[[1 3] [5 7]]\n');
  });

  test('server sequencing prints the article output', async () => {
    const r = await runNode([ex('server-sequencing-client.js'), serverSeq]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '[[1 3] [5 7]]\n');
  });

  test('hybrid sequencing prints the article output', async () => {
    const r = await runNode([ex('hybrid-sequencing-client.js'), hybrid, add]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '[[1 3] [5 7]]\n');
  });

  test('an unreachable hop is an error naming its URL', async () => {
    const dead = 'http://127.0.0.1:9'; // discard port: nothing listens
    const r = await runNode([ex('hybrid-sequencing-client.js'), hybrid, dead]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`hop ${dead} failed: .*ECONNREFUSED`));
  });

  test('a hop that hangs fails within its timeout, naming the hop', async () => {
    const { createServer } = await import('node:net');
    const silent = createServer(() => {}); // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    const t0 = performance.now();
    await assert.rejects(chain([multiply, { url, timeoutMs: 300 }], [[1]]), (e: unknown) => {
      assert.ok(e instanceof ModelpipeError);
      assert.equal(e.code, 'MP_ERR_HOP');
      assert.match(e.message, new RegExp(`hop ${url} failed: .*300 ms`));
      return true;
    });
    assert.ok(performance.now() - t0 < 3000);
    silent.close();
  });
});
