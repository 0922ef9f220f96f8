import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DEFAULT_INITIAL_OLD_SPACE_MB, heapFlag } from '../../src/cli/relaunch.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { CLI, startPrintingUrl, stop } from '../helpers/spawn.js';

test('heapFlag: on by default, off by MODELPIPE_INITIAL_OLD_SPACE_MB=0 or under a debugger, an explicit node flag wins', () => {
  const flag = `--initial-old-space-size=${DEFAULT_INITIAL_OLD_SPACE_MB}`;
  assert.equal(heapFlag({}, []), flag);
  assert.equal(heapFlag({ MODELPIPE_INITIAL_OLD_SPACE_MB: '512' }, []), '--initial-old-space-size=512');
  assert.equal(heapFlag({ MODELPIPE_INITIAL_OLD_SPACE_MB: '0' }, []), undefined);
  assert.equal(heapFlag({ MODELPIPE_INITIAL_OLD_SPACE_MB: 'lots' }, []), undefined);
  assert.equal(heapFlag({}, ['--initial-old-space-size=64']), undefined);
  assert.equal(heapFlag({ NODE_OPTIONS: '--initial-heap-size=300' }, []), undefined);
  assert.equal(heapFlag({}, ['--inspect=0']), undefined);
});

/** Pids of a process's children (Linux /proc). */
function children(pid: number): number[] {
  const tasks = `/proc/${pid}/task`;
  if (!existsSync(tasks)) return [];
  return readFileSync(`${tasks}/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');

test('modelpipe serve runs its server in a node started with the heap flag; that server stops when the launcher is killed', {
  skip: needShared('models/squeezenet1.1.onnx') || (process.platform === 'linux' ? false : 'needs Linux /proc'),
}, async () => {
  const s = await startPrintingUrl([CLI, 'serve', sharedPath('models/squeezenet1.1.onnx'), '--listen', '127.0.0.1:0']);
  const [child] = children(s.proc.pid as number);
  assert.ok(child !== undefined, 'the launcher has a child process');
  const argv = readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0');
  assert.ok(argv.includes(`--initial-old-space-size=${DEFAULT_INITIAL_OLD_SPACE_MB}`), argv.join(' '));
  assert.equal((await fetch(`${s.url}/health/live`)).status, 200);
  assert.equal(await stop(s.proc, 'SIGKILL'), null);
  for (let i = 0; i < 100 && alive(child); i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(alive(child), false, 'the orphaned server stopped');
});
