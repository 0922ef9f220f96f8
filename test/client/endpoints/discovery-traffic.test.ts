import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GraphPipeClient } from '../../../src/client/graphpipe-client.js';
import { silentLogger } from '../../../src/observe/logger.js';
import { Tensor } from '../../../src/tensor/index.js';
import { DOMAIN, type Dnsmasq, startDnsmasq } from '../../helpers/dnsmasq.js';
import { type RedisServer, startRedis } from '../../helpers/redis.js';
import { needShared, sharedPath } from '../../helpers/shared.js';
import { CLI, freePort, stop } from '../../helpers/spawn.js';

const skip = needShared('models/mnist.onnx');
/** The bound: a replica that joins gets traffic within this. */
const JOIN_MS = 5_000;

/** A mnist server on `host:port`, ready once /health/ready answers 200 (startPrintingUrl knows only 127.0.0.1). */
async function replica(host: string, port: number, extra: string[] = []): Promise<{ proc: ChildProcess; url: string }> {
  const args = ['--initial-old-space-size=64', CLI, 'serve', sharedPath('models/mnist.onnx'), '--listen', `${host}:${port}`, ...extra];
  const proc = spawn(process.execPath, args, { stdio: 'ignore' });
  const url = `http://${host}:${port}`;
  for (const t = Date.now(); ; ) {
    if (proc.exitCode !== null) throw new Error(`replica ${url} exited with ${proc.exitCode}`);
    if (
      (await fetch(`${url}/health/ready`).then(
        (r) => r.status,
        () => 0,
      )) === 200
    )
      return { proc, url };
    if (Date.now() - t > 30_000) throw new Error(`replica ${url} did not become ready`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Inference requests a replica has answered, from its /metrics. */
async function served(url: string): Promise<number> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  let n = 0;
  for (const m of text.matchAll(/^modelpipe_requests_total\{[^}]*\} (\d+)$/gm)) n += Number(m[1]);
  return n;
}

/** Calls through `client` until `done()`, one at a time. */
async function drive(client: GraphPipeClient, done: () => boolean): Promise<number> {
  const input = new Tensor('float32', [1, 1, 28, 28], new Float32Array(784));
  let failed = 0;
  while (!done()) await client.inferRaw(input).catch(() => failed++);
  return failed;
}

/** Polls until replica `url` has answered more than `before` requests; the ms it took. */
async function trafficReaches(url: string, before: number, t0: number): Promise<number> {
  while ((await served(url)) <= before) {
    if (Date.now() - t0 > 30_000) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - t0;
}

describe('a replica that joins receives traffic through GraphPipeClient with a discovery URL', { skip }, () => {
  let dir: string;
  let redis: RedisServer;
  let dns: Dnsmasq;
  let port: number;
  const procs: ChildProcess[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mp-disco-e2e-'));
    redis = await startRedis(dir);
    dns = await startDnsmasq(dir);
    // One port on two loopback addresses: a dns:// URL names one port for every address.
    port = await freePort();
  });
  after(async () => {
    for (const p of procs) await stop(p, 'SIGKILL');
    await dns?.stop();
    redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('announced in Redis, and added to the DNS server, a new replica serves within 5 s', async () => {
    const registry = `${redis.url}/mnist`;
    const a = await replica('127.0.0.2', port, ['--announce', registry]);
    procs.push(a.proc);
    const viaRedis = new GraphPipeClient(registry, { endpoints: { discovery: { logger: silentLogger } } });
    let stopRedisLoad = false;
    const redisLoad = drive(viaRedis, () => stopRedisLoad);
    try {
      const b = await replica('127.0.0.3', port, ['--announce', registry]);
      procs.push(b.proc);
      // It answers ready a moment before it announces, so timing from here over-states the wait.
      const t0 = Date.now();
      const joinMs = await trafficReaches(b.url, 0, t0);
      assert.ok(joinMs <= JOIN_MS, `the announced replica got its first request after ${joinMs} ms`);
    } finally {
      stopRedisLoad = true;
      assert.equal(await redisLoad, 0, 'no call failed');
      await viaRedis.close();
    }

    dns.setHosts([['127.0.0.2', 'mnist']]);
    const viaDns = new GraphPipeClient(`dns://mnist.${DOMAIN}:${port}`, {
      endpoints: { discovery: { dnsServers: [dns.server], logger: silentLogger } },
    });
    let stopDnsLoad = false;
    const dnsLoad = drive(viaDns, () => stopDnsLoad);
    try {
      const before = await served(`http://127.0.0.3:${port}`);
      dns.setHosts([
        ['127.0.0.2', 'mnist'],
        ['127.0.0.3', 'mnist'],
      ]);
      const joinMs = await trafficReaches(`http://127.0.0.3:${port}`, before, Date.now());
      assert.ok(joinMs <= JOIN_MS, `the replica added to DNS got its first request after ${joinMs} ms`);
    } finally {
      stopDnsLoad = true;
      assert.equal(await dnsLoad, 0, 'no call failed');
      await viaDns.close();
    }
  });
});
