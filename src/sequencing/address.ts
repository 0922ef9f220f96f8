import { isIP } from 'node:net';
import { ModelpipeError } from '../errors/index.js';

/**
 * Address policy for outbound connections named by requests (SSRF protection): the
 * Classy downloader's image fetches, and the literal-address entries of hop allow-lists.
 *
 * We parse addresses ourselves into 16-byte form instead of using net.BlockList
 * because BlockList does not reliably match IPv4 rules against IPv4-mapped IPv6
 * addresses (::ffff:127.0.0.1), and the mapped forms are exactly how a v6 socket
 * reaches a v4 loopback or metadata service.
 */

/** 16 bytes; IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d) so one table covers both. */
type Bytes16 = Uint8Array;

export interface Cidr {
  readonly bytes: Bytes16;
  readonly prefix: number; // in bits, over the 16-byte form
}

interface Rule extends Cidr {
  readonly reason: string;
}

function parseV4(s: string): number[] | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    // isIP already rejected non-canonical forms; this only guards direct callers.
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

/** Parses a literal IPv4/IPv6 address (optionally bracketed, optionally with a %zone) to 16 bytes. */
export function parseAddress(input: string): Bytes16 | undefined {
  let s = input.startsWith('[') && input.endsWith(']') ? input.slice(1, -1) : input;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const family = isIP(s);
  const out = new Uint8Array(16);
  if (family === 4) {
    const v4 = parseV4(s);
    if (v4 === undefined) return undefined;
    out[10] = 0xff;
    out[11] = 0xff;
    out.set(v4, 12);
    return out;
  }
  if (family !== 6) return undefined;
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two 16-bit groups.
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = parseV4(tail);
    if (v4 === undefined) return undefined;
    s = `${s.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = s.split('::');
  const head = halves[0] === '' ? [] : (halves[0] ?? '').split(':');
  const rest = halves.length > 1 ? (halves[1] === '' ? [] : (halves[1] ?? '').split(':')) : [];
  const groups = halves.length > 1 ? [...head, ...new Array<string>(8 - head.length - rest.length).fill('0'), ...rest] : head;
  if (groups.length !== 8) return undefined;
  groups.forEach((g, i) => {
    const v = Number.parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

/** Parses "10.0.0.0/8", "fe80::/10" or a bare address (a /32 or /128). */
export function parseCidr(spec: string): Cidr {
  const slash = spec.indexOf('/');
  const addr = slash >= 0 ? spec.slice(0, slash) : spec;
  const bytes = parseAddress(addr);
  if (bytes === undefined) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `not an IP address or CIDR: ${JSON.stringify(spec)}`);
  const isV4 = isIP(addr) === 4;
  const max = isV4 ? 32 : 128;
  const bits = slash >= 0 ? Number(spec.slice(slash + 1)) : max;
  if (!Number.isInteger(bits) || bits < 0 || bits > max) {
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `bad prefix length in ${JSON.stringify(spec)}`);
  }
  return { bytes, prefix: isV4 ? 96 + bits : bits };
}

function matches(addr: Bytes16, c: Cidr): boolean {
  let bits = c.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((addr[i]! & mask) !== (c.bytes[i]! & mask)) return false;
  }
  return true;
}

/** Whether the literal address `ip` lies inside `c` (false for a non-address). */
export function inCidr(ip: string, c: Cidr): boolean {
  const addr = parseAddress(ip);
  return addr !== undefined && matches(addr, c);
}

const rule = (spec: string, reason: string): Rule => ({ ...parseCidr(spec), reason });

/** Everything that is not ordinary public unicast. Order matters only for the reason reported. */
const FORBIDDEN: readonly Rule[] = [
  rule('0.0.0.0/8', 'a "this network" address (0.0.0.0/8)'),
  rule('10.0.0.0/8', 'private (10/8)'),
  rule('100.64.0.0/10', 'carrier-grade NAT (100.64/10)'),
  rule('127.0.0.0/8', 'loopback'),
  rule('169.254.0.0/16', 'link-local (169.254/16, incl. cloud metadata)'),
  rule('172.16.0.0/12', 'private (172.16/12)'),
  rule('192.0.0.0/24', 'IETF protocol assignments (192.0.0/24)'),
  rule('192.0.2.0/24', 'documentation (192.0.2/24)'),
  rule('192.168.0.0/16', 'private (192.168/16)'),
  rule('198.18.0.0/15', 'benchmarking (198.18/15)'),
  rule('198.51.100.0/24', 'documentation (198.51.100/24)'),
  rule('203.0.113.0/24', 'documentation (203.0.113/24)'),
  rule('224.0.0.0/4', 'multicast'),
  rule('240.0.0.0/4', 'reserved (240/4, incl. broadcast)'),
  rule('::/128', 'unspecified (::)'),
  rule('::1/128', 'loopback (::1)'),
  rule('100::/64', 'discard-only (100::/64)'),
  rule('2001:db8::/32', 'documentation (2001:db8::/32)'),
  rule('fc00::/7', 'unique-local (fc00::/7)'),
  rule('fe80::/10', 'link-local (fe80::/10)'),
  rule('fec0::/10', 'site-local (fec0::/10)'),
  rule('ff00::/8', 'multicast'),
];

/**
 * IPv6 forms that carry an IPv4 address a gateway or dual-stack socket may deliver to:
 * IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002:AABB:CCDD::/48).
 * IPv4-mapped needs no entry: it is already the 16-byte form of IPv4.
 */
function embeddedV4(addr: Bytes16): Bytes16 | undefined {
  const mapped = (offset: number): Bytes16 => {
    const out = new Uint8Array(16);
    out[10] = 0xff;
    out[11] = 0xff;
    out.set(addr.subarray(offset, offset + 4), 12);
    return out;
  };
  if (addr.subarray(0, 12).every((b) => b === 0) && !(addr[12] === 0 && addr[13] === 0 && addr[14] === 0)) return mapped(12);
  if (matches(addr, NAT64)) return mapped(12);
  if (addr[0] === 0x20 && addr[1] === 0x02) return mapped(2);
  return undefined;
}
const NAT64 = parseCidr('64:ff9b::/96');

/** Why `ip` is not a public address, or undefined when it is. Unparseable input is refused too. */
export function forbiddenReason(ip: string): string | undefined {
  const addr = parseAddress(ip);
  if (addr === undefined) return 'not an IP address';
  for (const r of FORBIDDEN) if (matches(addr, r)) return r.reason;
  const inner = embeddedV4(addr);
  if (inner !== undefined) {
    for (const r of FORBIDDEN) if (matches(inner, r)) return `${r.reason}, embedded in an IPv6 address`;
  }
  return undefined;
}

export interface AddressPolicyOptions {
  /** Permit every non-public address (tests, trusted internal deployments). */
  readonly allowPrivate?: boolean;
  /** Addresses or CIDRs permitted although non-public, e.g. ['127.0.0.1'] for one local server. */
  readonly allowAddresses?: readonly string[];
}

/** A compiled policy: `check(ip)` throws MP_ERR_FORBIDDEN_ADDRESS for refused addresses. */
export class AddressPolicy {
  readonly #allowAll: boolean;
  readonly #allow: readonly Cidr[];

  constructor(opts: AddressPolicyOptions = {}) {
    this.#allowAll = opts.allowPrivate === true;
    this.#allow = (opts.allowAddresses ?? []).map(parseCidr);
  }

  /** Undefined when `ip` may be connected to, else the reason it may not. */
  refusal(ip: string): string | undefined {
    if (this.#allowAll) return undefined;
    const reason = forbiddenReason(ip);
    if (reason === undefined) return undefined;
    const addr = parseAddress(ip);
    if (addr !== undefined && this.#allow.some((c) => matches(addr, c))) return undefined;
    return reason;
  }

  check(ip: string, host?: string): void {
    const reason = this.refusal(ip);
    if (reason !== undefined) {
      const what = host !== undefined && host !== ip ? `${host} resolves to ${ip}` : ip;
      throw new ModelpipeError('MP_ERR_FORBIDDEN_ADDRESS', forbiddenMessage(what, ip, reason));
    }
  }
}

/** The refusal's message, naming the flags (and library options) that would allow the address. */
export function forbiddenMessage(what: string, ip: string, reason: string): string {
  return `${what}: refused, ${reason} address (to allow it, start the downloader with --allow-address ${ip} or --allow-private; options allowAddresses, allowPrivate)`;
}

/** The literal address in a URL hostname ("[::1]" → "::1"), or undefined for a DNS name. */
export function literalAddress(hostname: string): string | undefined {
  const h = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return isIP(h) !== 0 ? h : undefined;
}
