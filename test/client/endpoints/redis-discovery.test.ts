import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Discovery } from '../../../src/client/endpoints/discovery.js';
import { RedisDiscovery } from '../../../src/client/endpoints/redis-discovery.js';
import { parseRegistryUrl } from '../../../src/client/endpoints/redis-registry.js';
import { RegistryAnnouncer } from '../../../src/client/endpoints/registry-announcer.js';
import { discoveryFor } from '../../../src/client/endpoints/schemes.js';
import { silentLogger } from '../../../src/observe/logger.js';
import { until } from '../../helpers/raw-http.js';
import { type RedisServer, startRedis } from '../../helpers/redis.js';

// Polling is set to a minute in these tests, so a change seen within seconds came
// over SUBSCRIBE. The bounds below are generous limits, not timings.
const NO_POLL = { refreshMs: 60_000, logger: silentLogger };

describe('redis:// discovery and the announcer against a real redis-server', () => {
  let dir: string;
  let redis: RedisServer;
  const open: Discovery[] = [];
  const announced: RegistryAnnouncer[] = [];
  // Left in `after` too: a failed assertion must not leave a connection holding the test process open.
  const announce = async (service: string, url: string): Promise<RegistryAnnouncer> => {
    const a = await RegistryAnnouncer.start({ registry: `${redis.url}/${service}`, url, ttlMs: 900, log: silentLogger });
    announced.push(a);
    return a;
  };
  const watch = async (service: string, options = NO_POLL): Promise<Discovery> => {
    const d = discoveryFor(`${redis.url}/${service}`, options);
    open.push(d);
    await d.ready();
    return d;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mp-registry-'));
    redis = await startRedis(dir);
  });
  after(async () => {
    for (const d of open) await d.close();
    for (const a of announced) await a.leave();
    redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sees an announced server at once, keeps it while it heartbeats past its TTL, and drops it at once when it leaves', async () => {
    const d = await watch('a');
    assert.ok(d instanceof RedisDiscovery);
    assert.deepEqual(d.current(), []);
    const announcer = await announce('a', 'http://10.0.0.1:9000');
    await until(() => d.current().length === 1, 5_000, 'the announced server');
    assert.deepEqual(d.current(), ['http://10.0.0.1:9000']);
    // Three TTLs: only the heartbeat keeps the entry alive that long.
    await new Promise((r) => setTimeout(r, 2_700));
    const expiry = Number(await redis.client.zscore('modelpipe:endpoints:a', 'http://10.0.0.1:9000'));
    assert.ok(expiry > 0, 'the entry is still in the registry');
    await announcer.leave();
    assert.equal(await redis.client.zscore('modelpipe:endpoints:a', 'http://10.0.0.1:9000'), null);
    await until(() => d.current().length === 0, 5_000, 'the server that left to go');
  });

  it('never lists an expired entry (a server that died), and removes it from the registry', async () => {
    const { key } = parseRegistryUrl(`${redis.url}/b`);
    const [sec] = await redis.client.time();
    await redis.client.zadd(
      key,
      String(Number(sec) * 1000 - 1_000),
      'http://10.0.0.2:9000',
      String(Number(sec) * 1000 + 60_000),
      'http://10.0.0.3:9000',
    );
    const d = await watch('b');
    assert.deepEqual(d.current(), ['http://10.0.0.3:9000']);
    assert.deepEqual(await redis.client.zrange(key, '0', '-1'), ['http://10.0.0.3:9000']);
  });

  it('polls at refreshMs for what nobody publishes: an entry written directly, and its expiry (a server that died)', async () => {
    const d = await watch('c', { refreshMs: 200, logger: silentLogger });
    const [sec] = await redis.client.time();
    await redis.client.zadd('modelpipe:endpoints:c', Number(sec) * 1000 + 2_000, 'http://10.0.0.4:9000');
    await until(() => d.current().length === 1, 5_000, 'the entry, by polling');
    await until(() => d.current().length === 0, 10_000, 'the entry to expire');
  });

  it('keeps the last list while Redis is down, and follows the registry again once it is back', async () => {
    const d = await watch('d');
    await announce('d', 'http://10.0.0.5:9000');
    await until(() => d.current().length === 1, 5_000, 'the announced server');
    const seen: (readonly string[])[] = [];
    d.subscribe((urls) => seen.push(urls));
    const port = Number(new URL(redis.url).port);
    redis.stop();
    await new Promise((r) => setTimeout(r, 1_500));
    assert.deepEqual(d.current(), ['http://10.0.0.5:9000']);
    assert.deepEqual(seen, [], 'no change while Redis was down');
    // Back empty (no persistence): the announcer's heartbeat puts the entry back.
    redis = await startRedis(dir, port);
    for (let t = Date.now(); (await redis.client.zscore('modelpipe:endpoints:d', 'http://10.0.0.5:9000')) === null; ) {
      assert.ok(Date.now() - t < 10_000, 'the announcer heartbeats into the new Redis');
      await new Promise((r) => setTimeout(r, 50));
    }
    const other = await announce('d', 'http://10.0.0.6:9000');
    await until(() => d.current().length === 2, 10_000, 'the discovery to follow the registry again');
    await other.leave();
  });

  it('rejects ready() with MP_ERR_DISCOVERY when Redis cannot be reached, and malformed URLs with MP_ERR_BAD_CONFIG', async () => {
    const d = discoveryFor('redis://127.0.0.1:1/svc', NO_POLL);
    open.push(d);
    await assert.rejects(d.ready(), { code: 'MP_ERR_DISCOVERY' });
    await assert.rejects(RegistryAnnouncer.start({ registry: 'redis://127.0.0.1:1/svc', url: 'http://h:1', log: silentLogger }), {
      code: 'MP_ERR_ANNOUNCE',
    });
    assert.throws(() => discoveryFor('redis://127.0.0.1:6379', NO_POLL), { code: 'MP_ERR_BAD_CONFIG' });
    assert.throws(() => discoveryFor('redis://127.0.0.1:6379/a/b', NO_POLL), { code: 'MP_ERR_BAD_CONFIG' });
    assert.throws(() => discoveryFor('redis://127.0.0.1:6379/svc?refresh=0', NO_POLL), { code: 'MP_ERR_BAD_CONFIG' });
  });
});
