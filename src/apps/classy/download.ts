import { type LookupAddress, type LookupAllOptions, lookup as dnsLookup } from 'node:dns';
import type { LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import { Agent, buildConnector } from 'undici';
import { ModelpipeError, type ErrorCode } from '../../errors/index.js';
import { AddressPolicy, type AddressPolicyOptions, forbiddenMessage, literalAddress } from '../../sequencing/address.js';
import { shownHop } from '../../sequencing/hop-policy.js';
import { intOption, mapLimit } from '../../vision/limit.js';

/**
 * The Classy downloader: fetches image URLs given by untrusted callers, so every
 * limit is enforced by us (size, time, redirects, content type) and every address
 * is vetted (SSRF). The address check happens where the socket gets its address
 * (the connector's DNS lookup), so the IP we approve is the IP we connect to: there
 * is no window for DNS rebinding between "check" and "connect".
 */

export interface DownloadOptions extends AddressPolicyOptions {
  /** Downloads in flight at once (default 8). */
  readonly concurrency?: number;
  /** Per URL, covering connect, every redirect hop and the whole body (default 10 000 ms). */
  readonly timeoutMs?: number;
  /** Largest body accepted, in bytes (default 20 MiB). */
  readonly maxBytes?: number;
  /** Redirects followed per URL (default 5; 0 refuses any redirect). */
  readonly maxRedirects?: number;
  /** Accept `application/octet-stream` besides `image/*` (some buckets serve images so). */
  readonly allowOctetStream?: boolean;
  /** Cancels everything still running. */
  readonly signal?: AbortSignal;
}

export type DownloadResult = { readonly ok: true; readonly bytes: Uint8Array } | { readonly ok: false; readonly error: ModelpipeError };

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

interface Settings {
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly maxRedirects: number;
  readonly allowOctetStream: boolean;
  readonly policy: AddressPolicy;
}

function settings(opts: DownloadOptions): Settings {
  return {
    concurrency: intOption('concurrency', opts.concurrency, 8),
    timeoutMs: intOption('timeoutMs', opts.timeoutMs, 10_000),
    maxBytes: intOption('maxBytes', opts.maxBytes, 20 * 1024 * 1024),
    maxRedirects: intOption('maxRedirects', opts.maxRedirects, 5, 0),
    allowOctetStream: opts.allowOctetStream === true,
    policy: new AddressPolicy(opts),
  };
}

/**
 * A DNS lookup that refuses the whole answer when any address in it is forbidden:
 * with Happy Eyeballs (Node's default) net may try each address in turn, so a
 * single bad record must not slip through.
 */
function guardedLookup(policy: AddressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true } as LookupAllOptions, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      try {
        for (const a of addresses) policy.check(a.address, hostname);
      } catch (e) {
        return callback(e as NodeJS.ErrnoException, '', 0);
      }
      if (options.all === true) return callback(null, addresses);
      const first = addresses[0];
      if (first === undefined) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      return callback(null, first.address, first.family);
    });
  };
}

/** An Agent whose every connection passes the policy, whether the host is a name or a literal. */
function guardedAgent(s: Settings): Agent {
  const base = buildConnector({ lookup: guardedLookup(s.policy), timeout: s.timeoutMs });
  const connect: buildConnector.connector = (options, callback) => {
    // net.connect skips `lookup` for IP literals, so literals are checked here
    // (downloadOne checks them earlier too, for a clearer error; this is the backstop).
    const literal = literalAddress(options.hostname);
    const refusal = literal === undefined ? undefined : s.policy.refusal(literal);
    if (literal !== undefined && refusal !== undefined) {
      callback(new ModelpipeError('MP_ERR_FORBIDDEN_ADDRESS', forbiddenMessage(literal, literal, refusal)), null);
      return;
    }
    base(options, callback);
  };
  return new Agent({ connect, headersTimeout: s.timeoutMs, bodyTimeout: s.timeoutMs });
}

function parseHttpUrl(raw: string, s: Settings): URL {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ModelpipeError('MP_ERR_FETCH', 'not a valid URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ModelpipeError('MP_ERR_FETCH', `scheme ${u.protocol} not allowed (http and https only)`);
  }
  // WHATWG URL already normalised 0x7f000001, 2130706433, 0177.0.0.1 … to dotted quads.
  const literal = literalAddress(u.hostname);
  if (literal !== undefined) s.policy.check(literal);
  return u;
}

function contentTypeOk(header: string | undefined, s: Settings): boolean {
  const type = (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return /^image\/[a-z0-9.+-]+$/.test(type) || (s.allowOctetStream && type === 'application/octet-stream');
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Drops a response body we will not read. Destroying closes that connection (rather
 * than draining an unknown amount); the listener keeps undici's resulting AbortError
 * from surfacing as an uncaught exception.
 */
function discard(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}

/** One URL, redirects followed by hand so each hop's target passes the checks again. */
async function downloadOne(url: string, s: Settings, agent: Agent, signal: AbortSignal): Promise<Uint8Array> {
  let current = parseHttpUrl(url, s);
  for (let hop = 0; ; hop++) {
    const res = await agent.request({
      origin: current.origin,
      path: `${current.pathname}${current.search}`,
      method: 'GET',
      headers: { accept: 'image/*', 'user-agent': 'modelpipe-classy' },
      signal,
    });
    const { statusCode, headers, body } = res;
    if (REDIRECTS.has(statusCode)) {
      discard(body); // never read a redirect's body: its size is not ours to pay for
      const location = header(headers, 'location');
      if (location === undefined) throw new ModelpipeError('MP_ERR_FETCH', `HTTP ${statusCode} without a Location header`);
      if (hop >= s.maxRedirects) throw new ModelpipeError('MP_ERR_FETCH', `too many redirects (limit ${s.maxRedirects})`);
      let target: string;
      try {
        target = new URL(location, current).href;
      } catch {
        throw new ModelpipeError('MP_ERR_FETCH', `redirect to an invalid URL ${JSON.stringify(location)}`);
      }
      try {
        current = parseHttpUrl(target, s);
      } catch (e) {
        const err = e as ModelpipeError;
        throw new ModelpipeError(err.code, `redirect to ${shownHop(target)} refused: ${err.message}`);
      }
      continue;
    }
    if (statusCode !== 200) {
      discard(body);
      throw new ModelpipeError('MP_ERR_FETCH', `HTTP ${statusCode}`);
    }
    const type = header(headers, 'content-type');
    if (!contentTypeOk(type, s)) {
      discard(body);
      throw new ModelpipeError('MP_ERR_FETCH', `content type ${JSON.stringify(type ?? '(none)')} is not an image`);
    }
    const announced = Number(header(headers, 'content-length') ?? Number.NaN);
    if (announced > s.maxBytes) {
      discard(body);
      throw new ModelpipeError('MP_ERR_FETCH', `body of ${announced} bytes announced, limit ${s.maxBytes}`);
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of body as AsyncIterable<Uint8Array>) {
      total += chunk.length;
      if (total > s.maxBytes) {
        discard(body);
        throw new ModelpipeError('MP_ERR_FETCH', `body exceeds limit of ${s.maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
    // A fresh, exactly sized array: Buffer.concat could hand out a slice of Node's shared pool.
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** Finds our own error in a cause chain (undici wraps what the connector or lookup raised). */
function ownError(err: unknown): ModelpipeError | undefined {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ModelpipeError) return e;
  }
  return undefined;
}

function describe(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown; cause?: { message?: unknown; code?: unknown } };
  const code = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : undefined;
  const msg = typeof e.message === 'string' && e.message !== '' ? e.message : String(err);
  return code !== undefined && !msg.includes(code) ? `${msg} (${code})` : msg;
}

function isUndiciTimeout(err: unknown): boolean {
  const code =
    (err as { code?: unknown; cause?: { code?: unknown } } | undefined)?.code ?? (err as { cause?: { code?: unknown } })?.cause?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
}

async function attempt(url: string, index: number, s: Settings, agent: Agent, outer: AbortSignal | undefined): Promise<DownloadResult> {
  const timer = AbortSignal.timeout(s.timeoutMs);
  const signal = outer === undefined ? timer : AbortSignal.any([outer, timer]);
  try {
    return { ok: true, bytes: await downloadOne(url, s, agent, signal) };
  } catch (err) {
    let code: ErrorCode = 'MP_ERR_FETCH';
    let why: string;
    const own = ownError(err);
    if (own !== undefined) {
      code = own.code;
      why = own.message;
    } else if (timer.aborted || isUndiciTimeout(err)) {
      // undici's own header/body timers run with the same bound and may fire first under load: a timeout either way.
      code = 'MP_ERR_TIMEOUT';
      why = `timed out after ${s.timeoutMs} ms`;
    } else if (outer?.aborted === true) {
      code = 'MP_ERR_CANCELLED';
      why = 'cancelled';
    } else {
      why = describe(err);
    }
    const error = new ModelpipeError(code, `url ${index} (${shownHop(url)}): ${why}`, { cause: err, url });
    return { ok: false, error };
  }
}

/**
 * Downloads every URL, keeping going past failures: result i is URL i's bytes or
 * its error. Never rejects except for bad options.
 */
export async function downloadAllSettled(urls: readonly string[], opts: DownloadOptions = {}): Promise<DownloadResult[]> {
  const s = settings(opts);
  const agent = guardedAgent(s);
  try {
    return await mapLimit(urls, s.concurrency, (url, i) => attempt(url, i, s, agent, opts.signal));
  } finally {
    await agent.destroy();
  }
}

/**
 * Downloads every URL; the first failure rejects at once (the others are cancelled)
 * with a ModelpipeError naming the URL's index and the cause.
 */
export async function downloadAll(urls: readonly string[], opts: DownloadOptions = {}): Promise<Uint8Array[]> {
  const s = settings(opts);
  const agent = guardedAgent(s);
  const stop = new AbortController();
  const signal = opts.signal === undefined ? stop.signal : AbortSignal.any([opts.signal, stop.signal]);
  let first: ModelpipeError | undefined;
  try {
    const results = await mapLimit(urls, s.concurrency, async (url, i) => {
      if (first !== undefined) return undefined; // fail fast: start nothing new
      const r = await attempt(url, i, s, agent, signal);
      if (!r.ok && first === undefined) {
        first = r.error;
        stop.abort();
      }
      return r.ok ? r.bytes : undefined;
    });
    if (first !== undefined) throw first;
    return results as Uint8Array[];
  } finally {
    await agent.destroy();
  }
}
