import type { Redis } from 'ioredis';
import { ModelpipeError } from '../../errors/index.js';
import type { Logger } from '../../observe/logger.js';
import { type RegistryAddress, connectRegistry, heartbeat, leave, parseRegistryUrl } from './redis-registry.js';

/** How long an announced endpoint stays listed without a heartbeat: a server killed outright is gone after this. */
export const ANNOUNCE_TTL_MS = 10_000;

/**
 * A server's entry in a Redis registry (`serve --announce redis://host:port/SERVICE`):
 * added once the server is ready, renewed every TTL/3 (so two lost heartbeats still
 * leave it listed), removed by `leave()` when the server starts draining. A failed
 * heartbeat is logged and retried at the next beat; ioredis reconnects meanwhile.
 */
export class RegistryAnnouncer {
  readonly #redis: Redis;
  readonly #address: RegistryAddress;
  readonly #url: string;
  readonly #ttlMs: number;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;
  #failing = false;
  #left = false;

  private constructor(redis: Redis, address: RegistryAddress, url: string, ttlMs: number, log: Logger) {
    this.#redis = redis;
    this.#address = address;
    this.#url = url;
    this.#ttlMs = ttlMs;
    this.#log = log;
    // Never more than ten beats a second, whatever the TTL.
    this.#timer = setInterval(() => void this.#beat(), Math.max(100, Math.floor(ttlMs / 3)));
    // The server's listeners keep the process alive; the heartbeat alone must not.
    this.#timer.unref();
    // Back from a reconnect (Redis restarted, perhaps empty): renew now, not at the next beat.
    redis.on('ready', () => void this.#beat());
  }

  /** Connects, announces `url` under the registry URL's service, and keeps it announced. */
  static async start(o: { registry: string; url: string; ttlMs?: number; log: Logger }): Promise<RegistryAnnouncer> {
    const address = parseRegistryUrl(o.registry);
    const ttlMs = o.ttlMs ?? ANNOUNCE_TTL_MS;
    let redis: Redis;
    try {
      redis = await connectRegistry(address);
    } catch (err: unknown) {
      throw new ModelpipeError('MP_ERR_ANNOUNCE', `cannot announce ${o.url}: ${(err as Error).message}`);
    }
    try {
      await heartbeat(redis, address, o.url, ttlMs);
    } catch (err: unknown) {
      redis.disconnect();
      throw new ModelpipeError('MP_ERR_ANNOUNCE', `cannot announce ${o.url} in ${address.description}: ${(err as Error).message}`);
    }
    o.log.info({ registry: address.description, url: o.url, ttlMs }, `announced ${o.url} in ${address.description}`);
    return new RegistryAnnouncer(redis, address, o.url, ttlMs, o.log);
  }

  get url(): string {
    return this.#url;
  }

  async #beat(): Promise<void> {
    try {
      await heartbeat(this.#redis, this.#address, this.#url, this.#ttlMs);
      if (this.#failing) this.#log.info({ registry: this.#address.description }, 'registry heartbeat works again');
      this.#failing = false;
    } catch (err: unknown) {
      if (!this.#failing)
        this.#log.warn(
          { registry: this.#address.description, err: (err as Error).message },
          'registry heartbeat failed; retrying (the entry expires if this lasts past its TTL)',
        );
      this.#failing = true;
    }
  }

  /**
   * Removes the entry (and publishes that), before the server drains: clients stop
   * sending new work while the in-flight work finishes. Bounded by the command
   * timeout: a Redis that is down must not hold up the drain (the entry then expires).
   */
  async leave(): Promise<void> {
    if (this.#left) return;
    this.#left = true;
    clearInterval(this.#timer);
    try {
      await leave(this.#redis, this.#address, this.#url);
      this.#log.info({ registry: this.#address.description, url: this.#url }, `left ${this.#address.description}`);
    } catch (err: unknown) {
      this.#log.warn(
        { registry: this.#address.description, err: (err as Error).message },
        'could not leave the registry; the entry will expire',
      );
    }
    this.#redis.disconnect();
  }
}
