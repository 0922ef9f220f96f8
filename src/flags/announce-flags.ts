import { parseRegistryUrl } from '../client/endpoints/redis-registry.js';
import { ANNOUNCE_TTL_MS } from '../client/endpoints/registry-announcer.js';
import { ModelpipeError } from '../errors/index.js';
import { listenAddress } from './args.js';
import { type FlagValues, flagGroup } from './table.js';

/** `--announce`/`--advertise`: a server (serve, batcher) registering itself where clients discover it. */
export const ANNOUNCE_FLAGS = {
  announce: {
    type: 'string',
    value: 'redis://host:port/SERVICE',
    help: 'register this server in a Redis registry once it is ready (renewed every TTL/3), and leave it before draining; clients use the same URL to find every server announced there',
  },
  advertise: {
    type: 'string',
    value: 'URL',
    help: 'the URL clients should use for this server (needed when listening on 0.0.0.0 or ::)',
    defaultNote: 'http(s)://<listen host>:<port>',
  },
  'announce-ttl': {
    type: 'int',
    value: 'MS',
    min: 1,
    help: 'how long the entry stays listed without a heartbeat: a server killed outright disappears after this',
    defaultNote: String(ANNOUNCE_TTL_MS),
  },
} as const;

export const ANNOUNCE_GROUP = flagGroup(ANNOUNCE_FLAGS, 'Discovery:');

export type AnnounceValues = FlagValues<typeof ANNOUNCE_FLAGS> & { listen?: string | undefined };

const ADVERTISED_SCHEMES = ['http:', 'https:', 'grpc:', 'grpcs:'];

/**
 * Checks the announce flags before anything is loaded, so a mistake costs nothing:
 * the registry URL's form, the advertised URL's, and that a wildcard listen address
 * (which no client can connect to) comes with --advertise.
 */
export function checkAnnounceFlags(v: AnnounceValues): void {
  if (v.announce === undefined) {
    if (v.advertise !== undefined) throw new ModelpipeError('MP_ERR_ANNOUNCE', '--advertise needs --announce (where to advertise)');
    return;
  }
  parseRegistryUrl(v.announce);
  if (v.advertise !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(v.advertise);
    } catch {}
    if (u === undefined || !ADVERTISED_SCHEMES.includes(u.protocol) || u.hostname === '')
      throw new ModelpipeError('MP_ERR_ANNOUNCE', `--advertise must be a URL like http://host:port, got ${v.advertise}`);
    return;
  }
  const { host } = listenAddress(v.listen);
  if (host === '0.0.0.0' || host === '::' || host === '')
    throw new ModelpipeError(
      'MP_ERR_ANNOUNCE',
      `--announce: listening on ${host || 'every address'} says nothing about where clients reach this server; give --advertise http://<address clients use>:<port>`,
    );
}

/** The URL announced: --advertise, else the server's own (listen host and the port it got). */
export function advertisedUrl(v: AnnounceValues, serverUrl: string): string {
  return v.advertise ?? serverUrl;
}
