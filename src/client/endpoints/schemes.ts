import { ModelpipeError } from '../../errors/index.js';
import type { Discovery, DiscoveryOptions } from './discovery.js';
import { StaticDiscovery } from './static-discovery.js';
import { DnsDiscovery } from './dns-discovery.js';
import { SrvDiscovery } from './srv-discovery.js';
import { RedisDiscovery } from './redis-discovery.js';

/** Makes a discovery for a URL of its scheme. */
export type DiscoveryFactory = (url: string, options: DiscoveryOptions) => Discovery;

/**
 * The discovery schemes, by the prefix a target string starts with. A new source
 * (Consul, etcd, …) is one file implementing `Discovery` and one line here.
 */
const SCHEMES = new Map<string, DiscoveryFactory>([
  ['dns://', (url, options) => new DnsDiscovery(url, options)],
  ['dns+srv://', (url, options) => new SrvDiscovery(url, options)],
  ['redis://', (url, options) => new RedisDiscovery(url, options)],
  ['rediss://', (url, options) => new RedisDiscovery(url, options)],
]);

/** Adds a discovery scheme (`dns://`, `dns+srv://`, `redis://`, …). */
export function registerDiscovery(prefix: string, factory: DiscoveryFactory): void {
  SCHEMES.set(prefix, factory);
}

/** Whether `target` names a discovery source rather than endpoint URLs. */
export function isDiscoveryUrl(target: string): boolean {
  for (const prefix of SCHEMES.keys()) if (target.startsWith(prefix)) return true;
  return false;
}

/**
 * The discovery for a target string: a discovery URL of a registered scheme, or a
 * comma-separated list of endpoint URLs (one URL is a list of one).
 */
export function discoveryFor(target: string, options: DiscoveryOptions = {}): Discovery {
  if (typeof target !== 'string' || target.trim() === '')
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `a client needs a URL, got ${String(target)}`);
  for (const [prefix, factory] of SCHEMES) if (target.startsWith(prefix)) return factory(target, options);
  return new StaticDiscovery(target);
}
