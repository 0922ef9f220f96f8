import type { Resolver } from 'node:dns/promises';
import type { DiscoveryOptions } from './discovery.js';
import { type DnsTarget, dnsResolver, endpointUrl, parseDnsUrl, resolveAddresses } from './dns-resolve.js';
import { type Reading, RefreshingDiscovery } from './refreshing-discovery.js';

/**
 * How often SRV records are read again by default. Node's resolveSrv returns no
 * TTL, so the records cannot say when they change; 5 s keeps a new replica's wait
 * short at one small query per interval.
 */
export const SRV_REFRESH_MS = 5_000;

/**
 * `dns+srv://_service._tcp.name`: the SRV records of the lowest priority value (the
 * preferred group; higher values name fallbacks, which modelpipe leaves out: the
 * endpoint set's health checks and failover already cover a failing member), each
 * target's A/AAAA addresses at the record's port. Weights do not split traffic:
 * the endpoint set balances by load.
 */
export class SrvDiscovery extends RefreshingDiscovery {
  readonly #target: DnsTarget;
  readonly #resolver: Resolver;
  readonly #refreshMs: number;

  constructor(url: string, options: DiscoveryOptions = {}) {
    super(url, options.logger);
    this.#target = parseDnsUrl(url, options);
    this.#resolver = dnsResolver(options.dnsServers);
    this.#refreshMs = this.#target.refreshMs ?? SRV_REFRESH_MS;
  }

  protected async read(): Promise<Reading> {
    const records = await this.#resolver.resolveSrv(this.#target.name).catch((err: NodeJS.ErrnoException) => {
      // No such service is a real answer: no replica.
      if (err.code === 'ENOTFOUND' || err.code === 'ENODATA') return [];
      throw err;
    });
    const best = Math.min(...records.map((r) => r.priority));
    const group = records.filter((r) => r.priority === best);
    const answers = await Promise.all(
      group.map(async (r) => (await resolveAddresses(this.#resolver, r.name)).addresses.map((a) => endpointUrl(this.#target, a, r.port))),
    );
    return { urls: answers.flat(), nextMs: this.#refreshMs };
  }

  protected override async release(): Promise<void> {
    this.#resolver.cancel();
  }
}
