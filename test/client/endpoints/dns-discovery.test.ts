import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DnsDiscovery } from '../../../src/client/endpoints/dns-discovery.js';
import { discoveryFor } from '../../../src/client/endpoints/schemes.js';
import { SrvDiscovery } from '../../../src/client/endpoints/srv-discovery.js';
import { silentLogger } from '../../../src/observe/logger.js';
import { DOMAIN, type Dnsmasq, startDnsmasq } from '../../helpers/dnsmasq.js';
import { freePort } from '../../helpers/spawn.js';
import { until } from '../../helpers/raw-http.js';

// Records have a TTL of 1 s (dnsmasq --local-ttl=1); a change must show within it
// plus one query. 5 s bounds that on a loaded machine without timing anything.
const WITHIN_MS = 5_000;

describe('dns:// and dns+srv:// discovery against a real dnsmasq', () => {
  let dir: string;
  let dns: Dnsmasq;
  const opts = () => ({ dnsServers: [dns.server], logger: silentLogger });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mp-dns-'));
    dns = await startDnsmasq(dir);
  });
  after(async () => {
    await dns?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('follows A records as replicas are added and removed mid-run, on their TTL', async () => {
    dns.setHosts([['127.0.0.2', 'svc']]);
    const d = discoveryFor(`dns://svc.${DOMAIN}:9000`, opts());
    assert.ok(d instanceof DnsDiscovery);
    const seen: (readonly string[])[] = [];
    d.subscribe((urls) => seen.push(urls));
    try {
      await d.ready();
      assert.deepEqual(d.current(), ['http://127.0.0.2:9000']);
      dns.setHosts([
        ['127.0.0.2', 'svc'],
        ['127.0.0.3', 'svc'],
      ]);
      await until(() => d.current().length === 2, WITHIN_MS, 'the added replica');
      assert.deepEqual(d.current(), ['http://127.0.0.2:9000', 'http://127.0.0.3:9000']);
      dns.setHosts([['127.0.0.3', 'svc']]);
      await until(() => d.current().length === 1, WITHIN_MS, 'the removed replica to go');
      assert.deepEqual(d.current(), ['http://127.0.0.3:9000']);
      // No record at all (NXDOMAIN) is a real answer: every replica is gone.
      dns.setHosts([]);
      await until(() => d.current().length === 0, WITHIN_MS, 'an empty list');
      assert.deepEqual(seen.at(-1), []);
      assert.ok(seen.length >= 3, 'every change reached the subscriber');
    } finally {
      await d.close();
    }
  });

  it('makes grpc:// URLs from ?scheme= and puts IPv6 addresses in brackets', async () => {
    dns.setHosts([
      ['::1', 'six'],
      ['127.0.0.4', 'six'],
    ]);
    const d = discoveryFor(`dns://six.${DOMAIN}:7000?scheme=grpc`, opts());
    try {
      await d.ready();
      assert.deepEqual(d.current(), ['grpc://127.0.0.4:7000', 'grpc://[::1]:7000']);
    } finally {
      await d.close();
    }
  });

  it('keeps the last good list while the DNS server is down, and follows it again after', async () => {
    dns.setHosts([['127.0.0.5', 'keep']]);
    const d = discoveryFor(`dns://keep.${DOMAIN}:9000`, opts());
    try {
      await d.ready();
      await dns.stop();
      // Several TTLs pass with every re-resolve failing.
      await new Promise((r) => setTimeout(r, 2_500));
      assert.deepEqual(d.current(), ['http://127.0.0.5:9000']);
      dns.setHosts([['127.0.0.6', 'keep']]);
      await dns.restart([]);
      await until(() => d.current()[0] === 'http://127.0.0.6:9000', 10_000, 'the list after the server is back');
    } finally {
      await d.close();
    }
  });

  it('reads the lowest-priority SRV group and follows SRV changes (dnsmasq restarted) at ?refresh=', async () => {
    const [p1, p2, p3] = [9101, 9102, 9103];
    dns.setHosts([
      ['127.0.0.7', 'r1'],
      ['127.0.0.8', 'r2'],
      ['127.0.0.9', 'backup'],
    ]);
    await dns.restart([
      { service: '_gp._tcp', target: 'r1', port: p1, priority: 10 },
      { service: '_gp._tcp', target: 'backup', port: p3, priority: 20 },
    ]);
    const d = discoveryFor(`dns+srv://_gp._tcp.${DOMAIN}?refresh=300`, opts());
    assert.ok(d instanceof SrvDiscovery);
    try {
      await d.ready();
      assert.deepEqual(d.current(), [`http://127.0.0.7:${p1}`]);
      await dns.restart([
        { service: '_gp._tcp', target: 'r1', port: p1, priority: 10 },
        { service: '_gp._tcp', target: 'r2', port: p2, priority: 10 },
        { service: '_gp._tcp', target: 'backup', port: p3, priority: 20 },
      ]);
      await until(() => d.current().length === 2, WITHIN_MS, 'the added SRV target');
      assert.deepEqual(d.current(), [`http://127.0.0.7:${p1}`, `http://127.0.0.8:${p2}`]);
      await dns.restart([{ service: '_gp._tcp', target: 'r2', port: p2, priority: 10 }]);
      await until(() => d.current().length === 1, WITHIN_MS, 'the removed SRV target to go');
      assert.deepEqual(d.current(), [`http://127.0.0.8:${p2}`]);
    } finally {
      await d.close();
      await dns.restart([]);
    }
  });

  it('rejects ready() with MP_ERR_DISCOVERY when no DNS server answers, and bad URLs with MP_ERR_BAD_CONFIG', async () => {
    const silent = await freePort(); // nothing listens there
    const d = discoveryFor(`dns://svc.${DOMAIN}:9000`, { dnsServers: [`127.0.0.1:${silent}`], logger: silentLogger });
    try {
      await assert.rejects(d.ready(), { code: 'MP_ERR_DISCOVERY' });
      assert.deepEqual(d.current(), []);
    } finally {
      await d.close();
    }
    assert.throws(() => discoveryFor(`dns://svc.${DOMAIN}`, opts()), { code: 'MP_ERR_BAD_CONFIG' });
    assert.throws(() => discoveryFor(`dns://svc.${DOMAIN}:9000?scheme=ftp`, opts()), { code: 'MP_ERR_BAD_CONFIG' });
    assert.throws(() => discoveryFor(`dns+srv://_gp._tcp.${DOMAIN}?refresh=soon`, opts()), { code: 'MP_ERR_BAD_CONFIG' });
    assert.throws(() => discoveryFor(`dns://svc.${DOMAIN}:9000`, { dnsServers: ['not an address'] }), { code: 'MP_ERR_BAD_CONFIG' });
  });
});
