import type { Resolver } from 'node:dns/promises';
import { ModelpipeError } from '../../errors/index.js';
import type { DiscoveryOptions } from './discovery.js';
import { type DnsTarget, dnsResolver, endpointUrl, parseDnsUrl, resolveAddresses } from './dns-resolve.js';
import { type Reading, RefreshingDiscovery } from './refreshing-discovery.js';

/**
 * Records are read again when the smallest TTL runs out, but not more often than
 * once a second (a TTL of 0 would be a busy loop) nor less often than once a
 * minute (a long TTL must not hide a replica that left for an hour).
 */
const TTL_FLOOR_MS = 1_000;
const TTL_CAP_MS = 60_000;
/** No record carries no TTL (Node does not give the negative-caching one): ask again after this. */
const EMPTY_RETRY_MS = 2_000;

/**
 * `dns://name:port`: every A and AAAA record of `name` is an endpoint at `port`
 * (what a Kubernetes headless Service gives), re-resolved on the records' TTL.
 */
export class DnsDiscovery extends RefreshingDiscovery {
  readonly #target: DnsTarget;
  readonly #resolver: Resolver;

  constructor(url: string, options: DiscoveryOptions = {}) {
    super(url, options.logger);
    this.#target = parseDnsUrl(url, options);
    if (this.#target.port === undefined) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${url}: dns:// needs a port (dns://name:port)`);
    this.#resolver = dnsResolver(options.dnsServers);
  }

  protected async read(): Promise<Reading> {
    const { addresses, ttlS } = await resolveAddresses(this.#resolver, this.#target.name);
    const port = this.#target.port as number;
    return {
      urls: addresses.map((a) => endpointUrl(this.#target, a, port)),
      nextMs: ttlS === undefined ? EMPTY_RETRY_MS : Math.min(TTL_CAP_MS, Math.max(TTL_FLOOR_MS, ttlS * 1000)),
    };
  }

  protected override async release(): Promise<void> {
    this.#resolver.cancel();
  }
}
