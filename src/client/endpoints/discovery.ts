import type { Logger } from '../../observe/logger.js';

/**
 * Discovery: where the endpoints of a set come from. One interface, several
 * implementations chosen by the URL's scheme (see `schemes.ts`):
 *
 * - a comma-separated list of URLs (static; never changes);
 * - `dns://name:port` (A/AAAA, re-resolved on the records' TTL);
 * - `dns+srv://_service._tcp.name` (SRV, re-resolved at a stated interval:
 *   Node's resolveSrv gives no TTL);
 * - `redis://host:port/SERVICE` (servers announce themselves with a TTL heartbeat).
 *
 * A discovery only says which endpoints exist. Whether one is healthy, and which
 * one a call goes to, is the endpoint set's business (`endpoint-set.ts`), so every
 * source gets the same balancing, health checks and failover.
 */
export interface Discovery {
  /** What this source is, for messages and `modelpipe endpoints` (the URL as given, credentials removed). */
  readonly description: string;
  /**
   * Resolves once the first answer is in. Rejects with MP_ERR_DISCOVERY when the
   * source cannot be reached at all; later failures keep the last good list (a
   * DNS server or registry that blips must not empty a working set) and are logged.
   */
  ready(): Promise<void>;
  /** The endpoint URLs known now: full URLs (scheme, host, port, path), no duplicates. */
  current(): readonly string[];
  /** Calls `listener` with the whole new list each time it changes; returns the unsubscribe function. */
  subscribe(listener: (urls: readonly string[]) => void): () => void;
  /** Stops re-resolving or watching; idempotent. */
  close(): Promise<void>;
}

/** Settings every discovery source may read; each ignores what does not apply to it. */
export interface DiscoveryOptions {
  /**
   * The scheme of the URLs made from DNS answers (`http`, `https`, `grpc`, `grpcs`);
   * default `http`. A `?scheme=` query on the discovery URL overrides it.
   */
  scheme?: string | undefined;
  /** DNS servers as `ip` or `ip:port` (default: MODELPIPE_DNS_SERVERS, else the system's). */
  dnsServers?: readonly string[] | undefined;
  /** How often SRV records, and a registry without notifications, are read again (ms). */
  refreshMs?: number | undefined;
  /** Where a source logs that it failed and kept its last list (default: a logger at MODELPIPE_LOG_LEVEL on stderr). */
  logger?: Logger | undefined;
}
