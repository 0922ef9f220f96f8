import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ModelpipeError } from '../../errors/index.js';
import type { DiscoveryOptions } from './discovery.js';

/** What dns:// and dns+srv:// share: the URL's parts, the resolver, A/AAAA lookups, the endpoint URLs made from answers. */

const SCHEMES = ['http', 'https', 'grpc', 'grpcs'];
/** A DNS server that does not answer is given up on after this (×2 tries), so one reading stays bounded. */
const QUERY_TIMEOUT_MS = 2_000;

export interface DnsTarget {
  /** The name to look up (dns://) or the SRV name (dns+srv://). */
  name: string;
  /** The port of dns:// (SRV answers carry their own). */
  port: number | undefined;
  scheme: string;
  /** A path under each endpoint (`dns://name:9000/v1` gives `http://ip:9000/v1`); empty when none. */
  path: string;
  /** `?refresh=MS` when given. */
  refreshMs: number | undefined;
}

/** Reads `dns://name:port[/path][?scheme=…]` or `dns+srv://_service._tcp.name[?refresh=MS]`. */
export function parseDnsUrl(url: string, options: DiscoveryOptions): DnsTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${url} is not a valid discovery URL`);
  }
  const name = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (name === '') throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${url}: no name to look up`);
  const scheme = u.searchParams.get('scheme') ?? options.scheme ?? 'http';
  if (!SCHEMES.includes(scheme))
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${url}: scheme must be one of ${SCHEMES.join(', ')}, got ${scheme}`);
  return {
    name,
    port: u.port === '' ? undefined : Number(u.port),
    scheme,
    path: u.pathname === '/' ? '' : u.pathname,
    refreshMs: refreshOf(url, u.searchParams.get('refresh')) ?? options.refreshMs,
  };
}

/** `?refresh=MS`: a positive whole number of milliseconds. */
export function refreshOf(url: string, text: string | null): number | undefined {
  if (text === null) return undefined;
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms < 1)
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${url}: refresh must be milliseconds ≥ 1, got ${text}`);
  return ms;
}

/**
 * A resolver asking the given servers (`ip` or `ip:port`), else MODELPIPE_DNS_SERVERS
 * (a comma list), else the system's.
 */
export function dnsResolver(servers: readonly string[] | undefined): Resolver {
  const list =
    servers ??
    (process.env.MODELPIPE_DNS_SERVERS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  const resolver = new Resolver({ timeout: QUERY_TIMEOUT_MS, tries: 2 });
  if (list.length > 0) {
    try {
      resolver.setServers([...list]);
    } catch (err: unknown) {
      throw new ModelpipeError('MP_ERR_BAD_CONFIG', `DNS servers ${list.join(',')}: ${(err as Error).message}`);
    }
  }
  return resolver;
}

/**
 * A and AAAA of `name` and the smallest TTL among them (undefined when there is no
 * record, or `name` is an address). No such name and no records are an empty answer,
 * which is real (every replica is gone); a server that fails or does not answer throws.
 */
export async function resolveAddresses(resolver: Resolver, name: string): Promise<{ addresses: string[]; ttlS: number | undefined }> {
  if (isIP(name) !== 0) return { addresses: [name], ttlS: undefined };
  const [v4, v6] = await Promise.all([
    resolver.resolve4(name, { ttl: true }).catch(noRecords),
    resolver.resolve6(name, { ttl: true }).catch(noRecords),
  ]);
  const all = [...v4, ...v6];
  const ttlS = all.length === 0 ? undefined : Math.min(...all.map((r) => r.ttl));
  return { addresses: all.map((r) => r.address), ttlS };
}

function noRecords(err: NodeJS.ErrnoException): [] {
  if (err.code === 'ENOTFOUND' || err.code === 'ENODATA') return [];
  throw new ModelpipeError('MP_ERR_DISCOVERY', `DNS lookup failed: ${err.code ?? err.message}`);
}

/** `scheme://address:port/path`, an IPv6 address in brackets. */
export function endpointUrl(t: DnsTarget, address: string, port: number): string {
  const host = isIP(address) === 6 ? `[${address}]` : address;
  return `${t.scheme}://${host}:${port}${t.path}`;
}
