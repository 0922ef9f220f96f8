import { isDiscoveryUrl } from '../client/endpoints/schemes.js';
import { splitEndpointList } from '../client/endpoints/static-discovery.js';
import { ModelpipeError } from '../errors/index.js';
import { inCidr, literalAddress, parseAddress, parseCidr } from './address.js';

/**
 * The allow-list of next-hop targets (SSRF protection for hops named by requests).
 *
 * Classy's downloader and hybrid sequencing forward to a URL taken from the
 * request's config. Those hops legitimately live on loopback or pod addresses, so
 * the downloader's public-address policy cannot apply; instead a server names at
 * start-up the hops it may call, and every other URL is refused before any
 * connection is made. Entries:
 *   - a URL (`http://127.0.0.1:9001`): that origin — scheme, host and port;
 *   - an address or CIDR (`10.0.0.0/8`, `::1`): a hop whose host is a literal
 *     address inside it, on any port;
 *   - a host pattern (`model.ns.svc`, `*.ns.svc.cluster.local:9000`): a hop whose
 *     host name matches (`*` stands for one or more characters of a label,
 *     `*.` also for several labels), on the given port or any.
 * A name is matched as written, never resolved: an operator allows names, or
 * addresses, not names by the addresses they happen to resolve to.
 */

type Entry =
  | { kind: 'origin'; origin: string }
  | { kind: 'cidr'; spec: string; cidr: ReturnType<typeof parseCidr> }
  | { kind: 'host'; re: RegExp; port: string | undefined };

function parseEntry(raw: string): Entry {
  const spec = raw.trim();
  if (spec.includes('://')) {
    let u: URL;
    try {
      u = new URL(spec);
    } catch {
      throw new ModelpipeError('MP_ERR_BAD_CONFIG', `allowed hop ${JSON.stringify(spec)} is not a valid URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new ModelpipeError('MP_ERR_BAD_CONFIG', `allowed hop ${JSON.stringify(spec)}: http and https only`);
    return { kind: 'origin', origin: u.origin };
  }
  const addr = spec.split('/')[0] ?? '';
  if (parseAddress(addr) !== undefined) return { kind: 'cidr', spec, cidr: parseCidr(spec) };
  const m = /^([a-z0-9*.-]+)(?::(\d{1,5}))?$/i.exec(spec);
  if (!m)
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `allowed hop ${JSON.stringify(spec)}: expected a URL, an address/CIDR or host[:port]`);
  const glob = (m[1] as string)
    .toLowerCase()
    .replace(/\./g, '\\.')
    .replace(/\*\\\./g, '(?:[a-z0-9-]+\\.)+')
    .replace(/\*/g, '[a-z0-9-]+');
  return { kind: 'host', re: new RegExp(`^${glob}$`), port: m[2] };
}

/** A URL (a hop's, an image's) as it may appear in a message: no credentials, bounded in length. */
export function shownHop(raw: string): string {
  let shown = raw;
  try {
    const u = new URL(raw);
    if (u.username !== '' || u.password !== '') {
      u.username = '';
      u.password = '';
      shown = u.href;
    }
  } catch {
    // not a URL: shown as given
  }
  return shown.length > 200 ? `${shown.slice(0, 200)}…` : shown;
}

export class HopPolicy {
  readonly #entries: readonly Entry[];
  /** The entries as given, for logs and messages. */
  readonly allowed: readonly string[];

  constructor(allowed: readonly string[] = []) {
    this.allowed = allowed.map((s) => s.trim()).filter((s) => s !== '');
    this.#entries = this.allowed.map(parseEntry);
  }

  /**
   * Undefined when `url` may be called as a next hop, else why not. A list of
   * endpoints is allowed only when each of them is; a discovery URL never (the
   * endpoints it would yield are not known when the request is checked).
   */
  refusal(url: string): string | undefined {
    if (isDiscoveryUrl(url)) return 'a discovery URL cannot be a next hop named by a request (name its endpoints)';
    if (url.includes(',')) {
      for (const one of splitEndpointList(url)) {
        const why = this.#refusalOfOne(one);
        if (why !== undefined) return `${shownHop(one)}: ${why}`;
      }
      return undefined;
    }
    return this.#refusalOfOne(url);
  }

  #refusalOfOne(url: string): string | undefined {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return 'not a valid URL';
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'http and https only';
    const host = u.hostname.toLowerCase();
    const literal = literalAddress(host);
    const port = u.port === '' ? (u.protocol === 'https:' ? '443' : '80') : u.port;
    for (const e of this.#entries) {
      if (e.kind === 'origin' && e.origin === u.origin) return undefined;
      if (e.kind === 'cidr' && literal !== undefined && inCidr(literal, e.cidr)) return undefined;
      if (e.kind === 'host' && literal === undefined && e.re.test(host) && (e.port === undefined || e.port === port)) return undefined;
    }
    return this.allowed.length === 0 ? 'this server allows no next hops' : 'not among the allowed next hops';
  }

  /** Throws MP_ERR_FORBIDDEN_ADDRESS, naming the flag that allows more, when `url` is refused. */
  check(url: string): void {
    const why = this.refusal(url);
    if (why === undefined) return;
    throw new ModelpipeError(
      'MP_ERR_FORBIDDEN_ADDRESS',
      `next hop ${shownHop(url)} refused: ${why} (to allow it, start the server with --allow-hop URL|CIDR|host[:port]; option allowHops)`,
    );
  }
}

/** A policy from a list of entries, or the policy itself. */
export function hopPolicy(p: HopPolicy | readonly string[] | undefined): HopPolicy {
  return p instanceof HopPolicy ? p : new HopPolicy(p ?? []);
}
