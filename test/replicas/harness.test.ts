import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Replicas } from '../helpers/replicas.js';
import { postIdentity } from '../helpers/replica-load.js';

test('the replica harness: serving pids, kill -9 hits the server, restart on the same port, per-replica counts', {
  timeout: 60_000,
}, async () => {
  const set = await Replicas.start(2);
  try {
    const [a, b] = [set.at(0), set.at(1)];
    assert.notEqual(a.port, b.port);
    // The pid is the serving process's own, whether or not the CLI relaunched itself.
    assert.notEqual(a.pid, b.pid);
    for (let i = 0; i < 3; i++) assert.equal((await postIdentity(a.url)).status, 200);
    assert.equal((await postIdentity(b.url)).status, 200);
    assert.deepEqual(await set.counts(), [3, 1]);

    const dead = a.pid;
    await set.kill(0, 'SIGKILL');
    assert.throws(() => process.kill(dead, 0), /ESRCH/, 'the serving process is gone');
    await assert.rejects(postIdentity(a.url), /ECONNREFUSED/);

    const again = await set.restart(0);
    assert.equal(again.port, a.port);
    assert.notEqual(again.pid, dead);
    assert.equal((await postIdentity(again.url)).status, 200);
    assert.deepEqual(await set.counts(), [1, 1], 'a restarted replica counts from zero');
  } finally {
    await set.close();
  }
});
