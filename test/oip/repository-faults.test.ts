import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { infer } from '../../src/client/oip-client.js';
import { Engine } from '../../src/core/engine.js';
import { ModelRepository } from '../../src/repository/index.js';
import { Tensor } from '../../src/tensor/index.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { CLI, startPrintingUrl, stop } from '../helpers/spawn.js';

/**
 * Bad entries in a repository (a dangling symlink, a corrupt or unreadable model
 * file) make that one model UNAVAILABLE with a reason; the others serve, startup
 * succeeds, polling survives, and no reason reveals an absolute host path.
 */

const skip = needShared('models/mnist.onnx');

interface Entry {
  name: string;
  version?: string;
  state: string;
  reason: string;
}

function mnistAt(dir: string, name: string): void {
  mkdirSync(join(dir, name, '1'), { recursive: true });
  symlinkSync(sharedPath('models/mnist.onnx'), join(dir, name, '1', 'model.onnx'));
}

/** A repository with one good model and every kind of bad entry; `outside` holds symlink targets. */
function badRepository(root: string): { dir: string; outside: string } {
  const dir = join(root, 'repo');
  const outside = join(root, 'outside');
  mkdirSync(dir, { recursive: true });
  mkdirSync(outside, { recursive: true });
  mnistAt(dir, 'good');
  symlinkSync(join(outside, 'gone'), join(dir, 'dangling'));
  mkdirSync(join(dir, 'corrupt', '1'), { recursive: true });
  writeFileSync(join(dir, 'corrupt', '1', 'model.onnx'), 'not an onnx model');
  // A model file that cannot be read as a file (a directory in its place).
  mkdirSync(join(dir, 'unreadable', '1', 'model.onnx'), { recursive: true });
  mkdirSync(join(dir, 'danglingfile', '1'), { recursive: true });
  symlinkSync(join(outside, 'nothing.onnx'), join(dir, 'danglingfile', '1', 'model.onnx'));
  symlinkSync(join(dir, 'loop'), join(dir, 'loop'));
  // A version that is a file, not a directory.
  mkdirSync(join(dir, 'fileversion'), { recursive: true });
  writeFileSync(join(dir, 'fileversion', '1'), 'not a directory');
  // Served through a symlink whose target is removed while the server runs.
  mnistAt(outside, 'movable');
  symlinkSync(join(outside, 'movable'), join(dir, 'movable'));
  return { dir, outside };
}

async function index(url: string): Promise<Entry[]> {
  const r = await request(`${url}/v2/repository/index`, { method: 'POST' });
  assert.equal(r.statusCode, 200);
  return (await r.body.json()) as Entry[];
}

function assertNoHostPath(entries: readonly Entry[], root: string): void {
  for (const e of entries) {
    assert.ok(!e.reason.includes(root), `${e.name}: reason reveals ${root}: ${e.reason}`);
    assert.ok(!e.reason.includes(sharedPath('')), `${e.name}: reason reveals the shared folder: ${e.reason}`);
    assert.doesNotMatch(e.reason, /(^|[\s'"(=:])\/[A-Za-z0-9_.-]+\//, `${e.name}: absolute path in reason: ${e.reason}`);
  }
}

const state = (entries: readonly Entry[], name: string) => entries.filter((e) => e.name === name);

describe('repository with bad entries, in process', { skip }, () => {
  const root = mkdtempSync(join(tmpdir(), 'modelpipe-repo-faults-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  test('loadAll, index and rescan: bad entries UNAVAILABLE with reasons, the good one READY', async () => {
    const { dir } = badRepository(root);
    const engine = new Engine();
    const repo = new ModelRepository({ dir, engine });
    await repo.loadAll();
    const entries = repo.index();
    assert.deepEqual(
      entries.filter((e) => e.state === 'READY').map((e) => e.name),
      ['good', 'movable'],
    );
    for (const name of ['dangling', 'corrupt', 'unreadable', 'danglingfile', 'loop', 'fileversion']) {
      const [e] = state(entries, name);
      assert.equal(e?.state, 'UNAVAILABLE', `${name}: ${JSON.stringify(e)}`);
      assert.ok((e?.reason.length ?? 0) > 0, `${name} has a reason`);
    }
    assert.match(state(entries, 'dangling')[0]?.reason ?? '', /symbolic link/);
    assertNoHostPath(entries, root);
    await repo.rescan();
    assertNoHostPath(repo.index(), root);
    await engine.shutdown();
  });
});

describe('modelpipe serve --repository with bad entries and --poll-seconds', { skip }, () => {
  const root = mkdtempSync(join(tmpdir(), 'modelpipe-repo-faults-cli-'));
  let proc: ChildProcess | undefined;
  let url = '';
  let outside = '';
  before(async () => {
    const r = badRepository(root);
    outside = r.outside;
    const s = await startPrintingUrl([CLI, 'serve', '--repository', r.dir, '--listen', '127.0.0.1:0', '--poll-seconds', '1'], 60_000);
    proc = s.proc;
    url = s.url;
  });
  after(async () => {
    await stop(proc);
    rmSync(root, { recursive: true, force: true });
  });

  const input = () => ({ Input3: Tensor.zeros('float32', [1, 1, 28, 28]) });

  test('starts, serves the good models, lists the bad ones; survives a symlink made dangling', async () => {
    const entries = await index(url);
    assert.equal(state(entries, 'dangling')[0]?.state, 'UNAVAILABLE');
    assert.equal(state(entries, 'corrupt')[0]?.state, 'UNAVAILABLE');
    assertNoHostPath(entries, root);
    assert.deepEqual((await infer(url, 'good', input())).outputs.Plus214_Output_0?.shape, [1, 10]);
    assert.deepEqual((await infer(url, 'movable', input())).outputs.Plus214_Output_0?.shape, [1, 10]);

    rmSync(join(outside, 'movable'), { recursive: true, force: true });
    // Several polls (1 s apart) see the dangling link; bounded wait for the first one to record it.
    let after: Entry[] = [];
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 200));
      after = await index(url);
      if (/symbolic link/.test(state(after, 'movable')[0]?.reason ?? '')) break;
    }
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(proc?.exitCode, null, 'the server is still running');
    after = await index(url);
    assert.match(state(after, 'movable')[0]?.reason ?? '', /symbolic link/, JSON.stringify(state(after, 'movable')));
    assertNoHostPath(after, root);
    assert.deepEqual((await infer(url, 'good', input())).outputs.Plus214_Output_0?.shape, [1, 10]);
  });
});
