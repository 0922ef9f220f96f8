import type { Redis } from 'ioredis';
import { ModelpipeError } from '../../errors/index.js';
import type { DiscoveryOptions } from './discovery.js';
import { type RegistryAddress, connectRegistry, parseRegistryUrl, readRegistry } from './redis-registry.js';
import { type Reading, RefreshingDiscovery } from './refreshing-discovery.js';

/**
 * How often the registry is read when nothing is published. Joins and leaves come
 * at once over SUBSCRIBE; the poll is the fallback for what pub/sub cannot carry:
 * a server that died (its entry expires, nobody publishes that) and messages lost
 * while the subscriber was reconnecting.
 */
export const REGISTRY_REFRESH_MS = 1_000;

/** `redis://host:port/SERVICE`: the servers announced there (`modelpipe serve --announce`) and not expired. */
export class RedisDiscovery extends RefreshingDiscovery {
  readonly #address: RegistryAddress;
  readonly #refreshMs: number;
  #redis: Redis | undefined;
  #subscriber: Redis | undefined;

  constructor(url: string, options: DiscoveryOptions = {}) {
    const address = parseRegistryUrl(url);
    super(address.description, options.logger);
    this.#address = address;
    this.#refreshMs = address.refreshMs ?? options.refreshMs ?? REGISTRY_REFRESH_MS;
  }

  protected async read(): Promise<Reading> {
    const urls = await readRegistry(await this.#connection(), this.#address);
    return { urls, nextMs: this.#refreshMs };
  }

  /**
   * The command connection, made at the first reading (and again if that failed).
   * Once connected, ioredis reconnects it by itself; readings meanwhile fail fast
   * and the last good list stays.
   */
  async #connection(): Promise<Redis> {
    if (this.#redis !== undefined) return this.#redis;
    const redis = await connectRegistry(this.#address);
    if (this.closed) {
      redis.disconnect();
      throw new ModelpipeError('MP_ERR_DISCOVERY', `${this.description}: closed`);
    }
    this.#redis = redis;
    void this.#watch(redis);
    return redis;
  }

  /** SUBSCRIBE for prompt changes; without it the poll still finds them. */
  async #watch(redis: Redis): Promise<void> {
    const sub = redis.duplicate();
    this.#subscriber = sub;
    sub.on('error', () => {});
    sub.on('message', () => this.refreshNow());
    // After a reconnect (ioredis subscribes again by itself), read at once: changes published meanwhile were lost.
    sub.on('ready', () => this.refreshNow());
    try {
      await sub.connect();
      await sub.subscribe(this.#address.channel);
    } catch (err: unknown) {
      if (!this.closed)
        this.log.warn({ discovery: this.description, err: (err as Error).message }, 'registry: cannot subscribe; polling only');
    }
  }

  protected override async release(): Promise<void> {
    this.#subscriber?.disconnect();
    this.#redis?.disconnect();
  }
}
