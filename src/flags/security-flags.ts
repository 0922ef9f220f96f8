import { isIP } from 'node:net';
import { type ClientSecurity, clientSecurityFromFiles, setDefaultClientSecurity } from '../client/security.js';
import { ModelpipeError } from '../errors/index.js';
import { TokenAuth } from '../server/auth.js';
import type { Logger } from '../observe/logger.js';
import { ServerTls } from '../server/tls.js';
import { str } from './args.js';
import { type Flag, flagGroup } from './table.js';

/** Flags of every command that runs a server (serve, batcher, classy up). */
export const SERVER_SECURITY_FLAGS = {
  'tls-cert': { type: 'string', value: 'FILE', help: 'serve HTTPS (and gRPC over TLS) with this PEM certificate (chain)' },
  'tls-key': { type: 'string', value: 'FILE', help: 'its PEM private key; both files are re-read on SIGHUP' },
  'tls-client-ca': { type: 'string', value: 'FILE', help: 'mutual TLS: clients must present a certificate signed by this CA' },
  'auth-tokens': {
    type: 'string',
    value: 'FILE',
    help: 'bearer tokens, one per line: TOKEN scope1,scope2 [name] (scopes: infer, metadata, control, metrics, all; re-read on SIGHUP); MODELPIPE_TOKENS holds the same lines inline (separated by ;)',
  },
  'auth-health': { type: 'boolean', help: 'health probes need a token too (default: they stay open)' },
  'hop-ca': { type: 'string', value: 'FILE', help: "CA that outgoing hops' (remote models, next stages) certificates chain to" },
  'hop-cert': { type: 'string', value: 'FILE', help: 'client certificate for outgoing hops (mutual TLS), with --hop-key' },
  'hop-key': { type: 'string', value: 'FILE', help: 'its key' },
  'hop-token': { type: 'string', value: 'TOKEN', help: 'bearer token sent to outgoing hops' },
} as const satisfies Record<string, Flag>;

export const SERVER_SECURITY_GROUP = flagGroup(SERVER_SECURITY_FLAGS, 'TLS and authentication:');

/** Flags of the client commands (infer, metadata). */
export const CLIENT_SECURITY_FLAGS = {
  ca: { type: 'string', value: 'FILE', help: "CA certificate to trust for https:// and grpcs:// (besides the system's)" },
  cert: { type: 'string', value: 'FILE', help: 'client certificate (mutual TLS), with --key' },
  key: { type: 'string', value: 'FILE', help: "the client certificate's key" },
  token: { type: 'string', value: 'TOKEN', help: 'bearer token' },
} as const satisfies Record<string, Flag>;

export const CLIENT_SECURITY_GROUP = flagGroup(CLIENT_SECURITY_FLAGS, 'TLS and authentication:');

export function clientSecurityFromFlags(v: Record<string, unknown>): ClientSecurity {
  return clientSecurityFromFiles({ ca: str(v.ca), cert: str(v.cert), key: str(v.key), token: str(v.token) });
}

export interface ServerSecurity {
  tls?: ServerTls;
  auth?: TokenAuth;
}

/**
 * TLS and auth for the servers a command starts, from its flags (and
 * MODELPIPE_TOKENS); sets what outgoing hops present (--hop-*).
 */
export function serverSecurityFromFlags(v: Record<string, unknown>): ServerSecurity {
  const cert = str(v['tls-cert']);
  const key = str(v['tls-key']);
  const clientCa = str(v['tls-client-ca']);
  if ((cert === undefined) !== (key === undefined)) throw new ModelpipeError('MP_ERR_TLS_CONFIG', '--tls-cert and --tls-key go together');
  if (clientCa !== undefined && cert === undefined)
    throw new ModelpipeError('MP_ERR_TLS_CONFIG', '--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS)');
  const out: ServerSecurity = {};
  if (cert !== undefined && key !== undefined) out.tls = new ServerTls({ cert, key, ...(clientCa !== undefined ? { clientCa } : {}) });
  const file = str(v['auth-tokens']);
  const inline = process.env.MODELPIPE_TOKENS;
  if (file !== undefined || (inline !== undefined && inline.trim() !== '')) {
    out.auth = new TokenAuth({
      ...(file !== undefined ? { file } : {}),
      ...(inline ? { inline } : {}),
      protectHealth: v['auth-health'] === true,
    });
  }
  const hop = { ca: str(v['hop-ca']), cert: str(v['hop-cert']), key: str(v['hop-key']), token: str(v['hop-token']) };
  if (Object.values(hop).some((x) => x !== undefined)) setDefaultClientSecurity(clientSecurityFromFiles(hop, 'hop-'));
  return out;
}

/** SIGHUP re-reads certificates and tokens; a failed reload keeps the old ones and is logged. */
export function reloadOnSighup(s: ServerSecurity, log: Logger): void {
  if (!s.tls && !s.auth) return;
  process.on('SIGHUP', () => {
    try {
      s.tls?.reload();
      s.auth?.reload();
      log.info({ tls: s.tls !== undefined, tokens: s.auth?.size }, 'SIGHUP: reloaded TLS certificates and tokens');
    } catch (err: unknown) {
      log.error({ err: (err as Error).message }, 'SIGHUP: reload failed; keeping the previous certificates and tokens');
    }
  });
}

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

/** Without tokens a server should stay on loopback: say so when it does not. */
export function warnIfExposed(host: string, s: ServerSecurity, log: Logger, what = 'server'): void {
  if (s.auth || isLoopback(host)) return;
  log.warn(
    { host },
    `${what} listens on ${host} without authentication: anyone who can reach it may run models (set --auth-tokens or MODELPIPE_TOKENS)`,
  );
}
