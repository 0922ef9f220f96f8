import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import { ModelpipeError } from '../errors/index.js';

/**
 * What a client presents to a server: the CA to trust for https:// and grpcs://
 * (besides the system's), a client certificate for mutual TLS, and a bearer token.
 * PEM contents, not paths (`clientSecurityFromFiles` reads paths).
 */
export interface ClientSecurity {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Sent as `Authorization: Bearer TOKEN` (HTTP) or `authorization` metadata (gRPC). */
  token?: string;
}

/** Reads the PEM files named by paths; `flag` names the option in errors. */
export function clientSecurityFromFiles(
  paths: { ca?: string | undefined; cert?: string | undefined; key?: string | undefined; token?: string | undefined },
  flag = '',
): ClientSecurity {
  const read = (what: 'ca' | 'cert' | 'key'): Buffer | undefined => {
    const p = paths[what];
    if (p === undefined || p === '') return undefined;
    try {
      return readFileSync(p);
    } catch (err: unknown) {
      throw new ModelpipeError('MP_ERR_TLS_CONFIG', `--${flag}${what} ${p}: ${(err as Error).message}`);
    }
  };
  const out: ClientSecurity = {};
  const ca = read('ca');
  const cert = read('cert');
  const key = read('key');
  if ((cert === undefined) !== (key === undefined))
    throw new ModelpipeError('MP_ERR_TLS_CONFIG', `--${flag}cert and --${flag}key go together (a client certificate needs its key)`);
  if (ca) out.ca = ca;
  if (cert) out.cert = cert;
  if (key) out.key = key;
  if (paths.token) out.token = paths.token;
  return out;
}

/**
 * The process's default for calls that pass no `security`: what a server's
 * outgoing hops (remote models, sequencing hops, Classy stages, the batcher's
 * target, RunInference's remote handlers) present. Set by the CLI from its
 * --hop-* flags; unset, it comes from MODELPIPE_HOP_TOKEN, MODELPIPE_HOP_CA,
 * MODELPIPE_HOP_CERT and MODELPIPE_HOP_KEY (paths), read on first use.
 */
let processDefault: ClientSecurity | undefined;

export function setDefaultClientSecurity(s: ClientSecurity | undefined): void {
  processDefault = s;
}

export function defaultClientSecurity(): ClientSecurity {
  processDefault ??= clientSecurityFromFiles(
    {
      ca: process.env.MODELPIPE_HOP_CA,
      cert: process.env.MODELPIPE_HOP_CERT,
      key: process.env.MODELPIPE_HOP_KEY,
      token: process.env.MODELPIPE_HOP_TOKEN,
    },
    'hop-',
  );
  return processDefault;
}

/** The security a call uses: its own, else the process default. */
export function securityOf(own: ClientSecurity | undefined): ClientSecurity {
  return own ?? defaultClientSecurity();
}

export function hasTls(s: ClientSecurity): boolean {
  return s.ca !== undefined || s.cert !== undefined;
}

/** TLS options for tls.connect / http2.connect. */
export function tlsOptions(s: ClientSecurity): { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer } {
  return { ...(s.ca ? { ca: s.ca } : {}), ...(s.cert ? { cert: s.cert } : {}), ...(s.key ? { key: s.key } : {}) };
}

/** Headers carrying the token, if there is one. */
export function authHeaders(s: ClientSecurity): Record<string, string> {
  return s.token ? { authorization: `Bearer ${s.token}` } : {};
}

/**
 * A digest of what a security object holds (treated as immutable once used), so
 * equal settings share one connection pool or channel however many objects carry
 * them: a caller that builds `{token}` per call does not get a pool per call.
 */
const keys = new WeakMap<ClientSecurity, string>();
export function securityKey(s: ClientSecurity): string {
  let k = keys.get(s);
  if (k === undefined) {
    const h = createHash('sha256');
    for (const v of [s.ca, s.cert, s.key, s.token]) h.update(v === undefined ? '-' : `${v.length}:`).update(v ?? '');
    k = h.digest('hex').slice(0, 32);
    keys.set(s, k);
  }
  return k;
}

/**
 * Resources (connection pools, HTTP/2 channels) kept per distinct security
 * settings: a caller that builds `{token}` per call reuses one, and settings that
 * change (a SIGHUP reload of the process default) get a fresh one. `keyOf` says
 * which settings matter (the token does not to a TLS pool, it does to a channel
 * that sends it as a header). Owned by a client or by the process-wide defaults.
 */
export class PerSecurity<T> {
  readonly #byKey = new Map<string, T>();
  readonly #byObject = new WeakMap<ClientSecurity, T>();

  constructor(
    private readonly keyOf: (s: ClientSecurity) => string,
    private readonly make: (s: ClientSecurity) => T,
    private readonly dispose: (t: T) => Promise<void> | void,
  ) {}

  #closed = false;

  get(s: ClientSecurity): T {
    // A call that began before its client's close() must not open a pool nobody will close.
    if (this.#closed) throw new ModelpipeError('MP_ERR_CLIENT_CLOSED', 'the client is closed');
    let t = this.#byObject.get(s);
    if (t !== undefined) return t;
    const k = this.keyOf(s);
    t = this.#byKey.get(k);
    if (t === undefined) {
      t = this.make(s);
      this.#byKey.set(k, t);
    }
    this.#byObject.set(s, t);
    return t;
  }

  /** Disposes of every resource, for good: a later get() throws MP_ERR_CLIENT_CLOSED. */
  async closeAll(): Promise<void> {
    this.#closed = true;
    const all = [...this.#byKey.values()];
    this.#byKey.clear();
    await Promise.all(all.map((t) => this.dispose(t)));
  }
}

/** The key of the settings a TLS connection pool depends on (not the token). */
export const tlsKey = (s: ClientSecurity): string => securityKey(tlsOptions(s));

/** A keep-alive pool for `s`'s TLS settings (plain HTTP when it has none). */
export function newAgent(s: ClientSecurity, connections = 64): Agent {
  const tls = tlsOptions(s);
  return new Agent({ keepAliveTimeout: 30_000, connections, pipelining: 1, ...(hasTls(s) ? { connect: tls } : {}) });
}

/**
 * The process-wide pools behind the functional helpers (multiRemoteRaw, oipInfer…),
 * one per distinct TLS settings; closeSharedAgents() (through closeDefaultClients)
 * closes them. Client objects own pools of their own instead.
 */
let shared: PerSecurity<Agent> | undefined;
export function sharedDispatcher(s: ClientSecurity): Agent {
  shared ??= new PerSecurity(
    tlsKey,
    (x) => newAgent(x),
    (a) => a.close(),
  );
  return shared.get(s);
}

/** The shared pool for `s`'s TLS settings. */
export const tlsDispatcher = sharedDispatcher;

export async function closeSharedAgents(): Promise<void> {
  const s = shared;
  shared = undefined;
  await s?.closeAll();
}
