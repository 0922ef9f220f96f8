import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RedisDiscovery } from '../../src/client/endpoints/redis-discovery.js';
import { remoteRaw } from '../../src/client/graphpipe-client.js';
import { silentLogger } from '../../src/observe/logger.js';
import { Tensor } from '../../src/tensor/index.js';
import { queued } from '../helpers/queue-depth.js';
import { until } from '../helpers/raw-http.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { needShared, sharedPath } from '../helpers/shared.js';
import { CLI, runNode, startPrintingUrl, stop } from '../helpers/spawn.js';

const skip = needShared('models/mnist.onnx', 'models/squeezenet1.1.onnx');
const MNIST = sharedPath('models/mnist.onnx');
/** Given to node, the heap flag keeps the CLI from relaunching itself: the pid we signal is the server's. */
const SERVER = ['--initial-old-space-size=64', CLI, 'serve'];

/** `modelpipe serve --announce`: a server registers once ready, a kill -9 expires, a SIGTERM leaves before draining. */
describe('serve --announce redis://… (and modelpipe endpoints reading it)', { skip }, () => {
  let dir: string;
  let redis: RedisServer;
  const discoveries: RedisDiscovery[] = [];
  const watch = async (service: string): Promise<RedisDiscovery> => {
    const d = new RedisDiscovery(`${redis.url}/${service}`, { logger: silentLogger, refreshMs: 300 });
    discoveries.push(d);
    await d.ready();
    return d;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mp-announce-'));
    redis = await startRedis(dir);
  });
  after(async () => {
    for (const d of discoveries) await d.close();
    redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('announces the server once it serves, keeps it by heartbeat, and it expires after kill -9', async () => {
    const d = await watch('mnist');
    const s = await startPrintingUrl([
      ...SERVER,
      MNIST,
      '--listen',
      '127.0.0.1:0',
      '--announce',
      `${redis.url}/mnist`,
      '--announce-ttl',
      '1500',
    ]);
    try {
      await until(() => d.current().length === 1, 10_000, 'the server in the registry');
      assert.deepEqual(d.current(), [s.url]);
      // What a client would use now, as `modelpipe endpoints` prints it.
      const listed = await runNode([CLI, 'endpoints', `${redis.url}/mnist`, '--json']);
      assert.equal(listed.code, 0, listed.stderr);
      const j = JSON.parse(listed.stdout) as { endpoints: { url: string; state: string }[] };
      assert.deepEqual(
        j.endpoints.map((e) => [e.url, e.state]),
        [[s.url, 'ready']],
      );
      // Past three TTLs, still there: the heartbeat renews it.
      await new Promise((r) => setTimeout(r, 4_500));
      assert.deepEqual(d.current(), [s.url]);
      s.proc.kill('SIGKILL');
      await once(s.proc, 'exit');
      assert.deepEqual(d.current(), [s.url], 'a killed server says nothing; its entry lasts until it expires');
      await until(() => d.current().length === 0, 10_000, 'the entry to expire');
    } finally {
      await stop(s.proc, 'SIGKILL');
    }
  });

  it('on SIGTERM leaves the registry at once, then finishes the work in flight and exits 0', async () => {
    const d = await watch('squeeze');
    const s = await startPrintingUrl([
      ...SERVER,
      sharedPath('models/squeezenet1.1.onnx'),
      '--listen',
      '127.0.0.1:0',
      '--no-batch',
      '--announce',
      `${redis.url}/squeeze`,
    ]);
    try {
      await until(() => d.current().length === 1, 10_000, 'the server in the registry');
      // Batch-16 requests queued behind one instance: seconds of work to drain.
      const input = new Tensor('float32', [16, 3, 224, 224], new Float32Array(16 * 3 * 224 * 224));
      let settled = 0;
      const calls = Array.from({ length: 8 }, () => remoteRaw(s.url, input).finally(() => settled++));
      let pendingAtLeave = -1;
      d.subscribe((urls) => {
        if (urls.length === 0 && pendingAtLeave < 0) pendingAtLeave = calls.length - settled;
      });
      for (let t = Date.now(); Date.now() - t < 30_000 && (await queued(s.url)) < 2; ) await new Promise((r) => setTimeout(r, 50));
      s.proc.kill('SIGTERM');
      const [code] = (await once(s.proc, 'exit')) as [number | null];
      assert.equal(code, 0, s.output());
      await Promise.all(calls); // every request in flight at SIGTERM was answered
      assert.ok(pendingAtLeave > 0, `the server left the registry only after its work was done (${pendingAtLeave} pending)`);
      assert.deepEqual(d.current(), []);
    } finally {
      await stop(s.proc, 'SIGKILL');
    }
  });

  it('with --processes 2 the primary announces --advertise once and leaves on SIGTERM', async () => {
    const d = await watch('two');
    const advertised = 'http://replica-7.example:9000';
    const s = await startPrintingUrl([
      ...SERVER,
      MNIST,
      '--listen',
      '127.0.0.1:0',
      '--processes',
      '2',
      '--announce',
      `${redis.url}/two`,
      '--advertise',
      advertised,
    ]);
    try {
      await until(() => d.current().length === 1, 20_000, 'the server in the registry');
      assert.deepEqual(d.current(), [advertised]);
      assert.equal(await redis.client.zcard('modelpipe:endpoints:two'), 1);
      s.proc.kill('SIGTERM');
      const [code] = (await once(s.proc, 'exit')) as [number | null];
      assert.equal(code, 0, s.output());
      assert.equal(await redis.client.zcard('modelpipe:endpoints:two'), 0);
    } finally {
      await stop(s.proc, 'SIGKILL');
    }
  });

  it('refuses a wildcard listen address without --advertise, and an unreachable registry, with MP_ERR_ANNOUNCE', async () => {
    const wildcard = await runNode([CLI, 'serve', MNIST, '--listen', '0.0.0.0:0', '--announce', `${redis.url}/x`]);
    assert.notEqual(wildcard.code, 0);
    assert.match(wildcard.stderr, /MP_ERR_ANNOUNCE/);
    assert.match(wildcard.stderr, /--advertise/);
    const unreachable = await runNode([CLI, 'serve', MNIST, '--listen', '127.0.0.1:0', '--announce', 'redis://127.0.0.1:1/x']);
    assert.notEqual(unreachable.code, 0);
    assert.match(unreachable.stderr, /MP_ERR_ANNOUNCE/);
  });
  it('batcher --no-batch (the balancer) announces itself too, and leaves on SIGTERM', async () => {
    const d = await watch('balancer');
    const s = await startPrintingUrl([...SERVER, MNIST, '--listen', '127.0.0.1:0']);
    const BATCHER = ['--initial-old-space-size=64', CLI, 'batcher'];
    const b = await startPrintingUrl([
      ...BATCHER,
      '--target',
      s.url,
      '--no-batch',
      '--listen',
      '127.0.0.1:0',
      '--announce',
      `${redis.url}/balancer`,
    ]);
    try {
      await until(() => d.current().length === 1, 10_000, 'the balancer in the registry');
      const [announced] = d.current();
      assert.notEqual(announced, s.url, 'the balancer announces its own address, not its target');
      assert.equal((await fetch(`${announced}/health/ready`)).status, 200);
      const exited = once(b.proc, 'exit');
      b.proc.kill('SIGTERM');
      await until(() => d.current().length === 0, 10_000, 'the balancer to leave');
      assert.equal((await exited)[0], 0);
    } finally {
      await stop(b.proc, 'SIGKILL');
      await stop(s.proc, 'SIGKILL');
    }
  });
});
