import { type ChildProcess, spawn } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { once } from 'node:events';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './spawn.js';

/**
 * A real DNS server on loopback: Debian's dnsmasq on a free port, answering only
 * for `replicas.test` (so a removed name is NXDOMAIN, not a refusal) from a hosts
 * directory it re-reads on change (A/AAAA, TTL 1 s), plus SRV records given at start.
 */

export const DOMAIN = 'replicas.test';
const DNSMASQ = '/usr/sbin/dnsmasq';

export interface SrvRecord {
  /** `_service._tcp` (the domain is added). */
  service: string;
  /** A name under the domain (without it). */
  target: string;
  port: number;
  priority?: number;
  weight?: number;
}

export interface Dnsmasq {
  /** `127.0.0.1:port`, for DiscoveryOptions.dnsServers / MODELPIPE_DNS_SERVERS. */
  server: string;
  /** Replaces every A/AAAA record: [address, name without the domain]. */
  setHosts(hosts: ReadonlyArray<readonly [string, string]>): void;
  /** Restarts dnsmasq with these SRV records (it reads them only at start). */
  restart(srv: readonly SrvRecord[]): Promise<void>;
  /** Stops it (a restart() brings it back). */
  stop(): Promise<void>;
}

export async function startDnsmasq(dir: string, srv: readonly SrvRecord[] = []): Promise<Dnsmasq> {
  const port = await freePort();
  const hostsDir = join(dir, 'hosts.d');
  mkdirSync(hostsDir, { recursive: true });
  const server = `127.0.0.1:${port}`;
  let proc: ChildProcess | undefined;
  let log = '';
  const setHosts = (hosts: ReadonlyArray<readonly [string, string]>): void => {
    const lines = [['127.0.0.1', 'ready'], ...hosts].map(([a, n]) => `${a} ${n}.${DOMAIN}\n`).join('');
    // Written beside the directory and renamed in: dnsmasq never reads half a file.
    writeFileSync(join(dir, 'hosts.tmp'), lines);
    renameSync(join(dir, 'hosts.tmp'), join(hostsDir, 'hosts'));
  };
  const start = async (records: readonly SrvRecord[]): Promise<void> => {
    const args = [
      '--keep-in-foreground',
      '--no-resolv',
      '--no-hosts',
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--local-ttl=1',
      `--local=/${DOMAIN}/`,
      `--hostsdir=${hostsDir}`,
      `--pid-file=${join(dir, 'dnsmasq.pid')}`,
      '--log-facility=-',
      '--user=root',
      ...records.map((r) => `--srv-host=${r.service}.${DOMAIN},${r.target}.${DOMAIN},${r.port},${r.priority ?? 0},${r.weight ?? 1}`),
    ];
    proc = spawn(DNSMASQ, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (d: Buffer) => (log += d));
    proc.stderr?.on('data', (d: Buffer) => (log += d));
    proc.on('error', (err) => (log += `${err.message}\n`));
    await answering(
      server,
      () => proc === undefined || proc.exitCode !== null || proc.pid === undefined,
      () => log,
    );
  };
  const stop = async (): Promise<void> => {
    if (proc && proc.exitCode === null && proc.pid !== undefined) {
      proc.kill('SIGTERM');
      await once(proc, 'exit');
    }
  };
  setHosts([]);
  await start(srv);
  return {
    server,
    setHosts,
    restart: async (records) => {
      await stop();
      await start(records);
    },
    stop,
  };
}

/** Waits until dnsmasq answers the `ready` name (it listens a moment after it starts). */
async function answering(server: string, died: () => boolean, log: () => string): Promise<void> {
  const resolver = new Resolver({ timeout: 200, tries: 1 });
  resolver.setServers([server]);
  const t0 = Date.now();
  for (;;) {
    try {
      await resolver.resolve4(`ready.${DOMAIN}`);
      return;
    } catch {
      if (died() || Date.now() - t0 > 10_000) throw new Error(`dnsmasq did not start:\n${log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
