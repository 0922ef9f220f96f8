import type { Redis } from 'ioredis';
import { ModelpipeError } from '../../errors/index.js';
import { refreshOf } from './dns-resolve.js';

/**
 * The endpoint registry on Redis, both sides of it: servers announce themselves
 * (`registry-announcer.ts`), clients read and watch (`redis-discovery.ts`).
 *
 * One sorted set per service, `modelpipe:endpoints:SERVICE`: member = an endpoint
 * URL, score = when it expires (ms, by Redis's clock, so the servers' and the
 * clients' clocks never have to agree). A server re-adds itself every TTL/3 and
 * removes itself when it drains; one that dies stops renewing and expires. Joins
 * and leaves are also PUBLISHed on the channel of the same name, so clients see
 * them at once instead of at their next poll.
 */

export interface RegistryAddress {
  /** The Redis server (credentials kept: ioredis needs them). */
  redisUrl: string;
  service: string;
  key: string;
  channel: string;
  /** The URL without credentials, for messages. */
  description: string;
  /** `?refresh=MS` when given. */
  refreshMs: number | undefined;
}

/** Reads `redis://[user:password@]host:port/SERVICE[?refresh=MS]` (also rediss:// for TLS). */
export function parseRegistryUrl(url: string): RegistryAddress {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${url} is not a valid registry URL (redis://host:port/SERVICE)`);
  }
  const service = u.pathname.replace(/^\//, '');
  if ((u.protocol !== 'redis:' && u.protocol !== 'rediss:') || !/^[A-Za-z0-9._-]+$/.test(service))
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${u.protocol}//${u.host}${u.pathname}: expected redis://host:port/SERVICE`);
  const auth = u.username !== '' || u.password !== '' ? `${u.username}:${u.password}@` : '';
  const name = `modelpipe:endpoints:${service}`;
  return {
    redisUrl: `${u.protocol}//${auth}${u.host}`,
    service,
    key: name,
    channel: name,
    description: `${u.protocol}//${u.host}/${service}`,
    refreshMs: refreshOf(url, u.searchParams.get('refresh')),
  };
}

/** Redis's own clock in ms, inside a script. */
const NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";

/**
 * Adds or renews ARGV[1] for ARGV[2] ms, drops expired members, and publishes when
 * the member is new (a first announce, or one back after it had expired).
 */
const HEARTBEAT = `${NOW}
local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local expired = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if added == 1 or expired > 0 then redis.call('PUBLISH', ARGV[3], cjson.encode({ event = 'join', url = ARGV[1] })) end
return added`;

/** The members not yet expired; expired ones are dropped on the way (a dead server's entry goes at the first read past it). */
const READ = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')`;

export async function heartbeat(redis: Redis, a: RegistryAddress, url: string, ttlMs: number): Promise<boolean> {
  return (await redis.eval(HEARTBEAT, 1, a.key, url, String(ttlMs), a.channel)) === 1;
}

export async function readRegistry(redis: Redis, a: RegistryAddress): Promise<string[]> {
  return (await redis.eval(READ, 1, a.key)) as string[];
}

export async function leave(redis: Redis, a: RegistryAddress, url: string): Promise<void> {
  await redis
    .multi()
    .zrem(a.key, url)
    .publish(a.channel, JSON.stringify({ event: 'leave', url }))
    .exec();
}

/** A command on a Redis that does not answer fails after this, so no reading or heartbeat hangs. */
const COMMAND_TIMEOUT_MS = 2_000;

/**
 * A connection to the registry's Redis. ioredis is imported here, not at the top,
 * so a client that never uses redis:// does not load it. Commands fail at once
 * while the connection is down (no offline queue: a caller keeps its last list or
 * retries its heartbeat), and ioredis reconnects with back-off up to 5 s.
 */
export async function connectRegistry(a: RegistryAddress): Promise<Redis> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(a.redisUrl, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: COMMAND_TIMEOUT_MS,
    retryStrategy: (times: number) => Math.min(5_000, 100 * 2 ** times),
  });
  // Connection errors surface as failed commands, which the callers report; unheard, this event would crash the process.
  redis.on('error', () => {});
  try {
    await redis.connect();
  } catch (err: unknown) {
    redis.disconnect();
    throw new ModelpipeError('MP_ERR_DISCOVERY', `cannot reach Redis at ${a.description}: ${(err as Error).message}`);
  }
  return redis;
}
