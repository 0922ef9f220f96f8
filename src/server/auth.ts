import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type http2 from 'node:http2';
import { status } from '@grpc/grpc-js';
import { ModelpipeError } from '../errors/index.js';
import { GrpcError } from './grpc-transport.js';

/**
 * Bearer-token authentication with scopes. Token lines (file or MODELPIPE_TOKENS):
 *   TOKEN scope1,scope2 [name]
 * scopes: infer, metadata, control (repository load/unload), metrics, or all;
 * `#` at a line's start or after a space starts a comment. Tokens are RFC 6750
 * b64tokens of 16+ characters. Several tokens may hold the same scopes (rotation:
 * add the new one, move clients, drop the old one, send SIGHUP). A token is never kept:
 * only its SHA-256, which a presented token's SHA-256 is compared against in
 * constant time, with every entry compared (no early exit that would time which).
 */

export const SCOPES = ['infer', 'metadata', 'control', 'metrics'] as const;
export type Scope = (typeof SCOPES)[number];
/** What a route needs: a scope, or `health` (open unless health is protected; then any valid token). */
export type Need = Scope | 'health';

const MIN_TOKEN_LENGTH = 16;
/** RFC 6750's b64token: what an Authorization: Bearer header can carry. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

export interface TokenEntry {
  /** Who the token is (its name, or `sha256:` and 8 hex digits of its hash): rate limiters key by it. */
  readonly identity: string;
  readonly scopes: ReadonlySet<Scope>;
  readonly hash: Buffer;
}

export interface TokenSources {
  /** A token file, re-read by reload(). */
  file?: string;
  /** Token lines given inline (MODELPIPE_TOKENS: lines separated by newlines or `;`). */
  inline?: string;
  /** Health probes need a valid token too (default: they stay open for load balancers and kubelets). */
  protectHealth?: boolean;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Parses token lines; `source` names them in errors (never the token itself). */
export function parseTokens(text: string, source: string): TokenEntry[] {
  const out: TokenEntry[] = [];
  text.split(/[\n;]/).forEach((raw, i) => {
    const line = raw.replace(/(^|\s)#.*/, '').trim();
    if (line === '') return;
    const [token, scopeList, name, extra] = line.split(/\s+/);
    const where = `${source} entry ${i + 1}`;
    if (!token || !scopeList || extra !== undefined)
      throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${where}: expected "TOKEN scope1,scope2 [name]"`);
    if (token.length < MIN_TOKEN_LENGTH)
      throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${where}: tokens must be at least ${MIN_TOKEN_LENGTH} characters`);
    if (!B64TOKEN.test(token))
      throw new ModelpipeError(
        'MP_ERR_BAD_CONFIG',
        `${where}: a token is letters, digits and - . _ ~ + / (then = padding), as RFC 6750 says`,
      );
    const scopes = new Set<Scope>();
    for (const s of scopeList.split(',')) {
      if (s === 'all') for (const a of SCOPES) scopes.add(a);
      else if ((SCOPES as readonly string[]).includes(s)) scopes.add(s as Scope);
      else
        throw new ModelpipeError(
          'MP_ERR_BAD_CONFIG',
          `${where}: unknown scope ${JSON.stringify(s.slice(0, 40))} (${SCOPES.join(', ')}, all)`,
        );
    }
    const hash = sha256(token);
    out.push({ identity: name ?? `sha256:${hash.toString('hex').slice(0, 8)}`, scopes, hash });
  });
  return out;
}

/** The authenticated token of a request, for per-client limits (absent without auth or for open routes). */
const identities = new WeakMap<IncomingMessage, string>();
export function tokenIdentity(req: IncomingMessage): string | undefined {
  return identities.get(req);
}

export class TokenAuth {
  private entries: TokenEntry[] = [];

  constructor(private readonly sources: TokenSources) {
    this.reload();
    if (this.entries.length === 0) throw new ModelpipeError('MP_ERR_BAD_CONFIG', 'authentication is on but no token is configured');
  }

  get size(): number {
    return this.entries.length;
  }

  /** Re-reads the token file (SIGHUP); on error the old tokens stay and the error is thrown. */
  reload(): void {
    const { file, inline } = this.sources;
    let text = '';
    if (file !== undefined) {
      try {
        text = readFileSync(file, 'utf8');
      } catch (err: unknown) {
        throw new ModelpipeError('MP_ERR_BAD_CONFIG', `cannot read the token file ${file}: ${(err as Error).message}`);
      }
    }
    const next = [...(file !== undefined ? parseTokens(text, file) : []), ...(inline ? parseTokens(inline, 'MODELPIPE_TOKENS') : [])];
    if (next.length === 0 && this.entries.length > 0) throw new ModelpipeError('MP_ERR_BAD_CONFIG', 'the reloaded token list is empty');
    this.entries = next;
  }

  /** The entry whose token `authorization` carries ("Bearer TOKEN"), if any. */
  authenticate(authorization: string | undefined): TokenEntry | undefined {
    const m = authorization === undefined ? null : /^Bearer +(\S+) *$/i.exec(authorization);
    if (!m) return undefined;
    const h = sha256(m[1] as string);
    let found: TokenEntry | undefined;
    for (const e of this.entries) if (timingSafeEqual(h, e.hash) && !found) found = e;
    return found;
  }

  /** The caller's entry, and the error when refused (MP_ERR_UNAUTHENTICATED 401 or MP_ERR_PERMISSION_DENIED 403). */
  check(need: Need, authorization: string | undefined): { entry?: TokenEntry; error?: ModelpipeError } {
    if (need === 'health' && !this.sources.protectHealth) return {};
    const entry = this.authenticate(authorization);
    if (!entry) {
      const what = authorization === undefined ? 'missing' : 'invalid';
      return { error: new ModelpipeError('MP_ERR_UNAUTHENTICATED', `${what} bearer token (send "Authorization: Bearer TOKEN")`) };
    }
    if (need !== 'health' && !entry.scopes.has(need))
      return { entry, error: new ModelpipeError('MP_ERR_PERMISSION_DENIED', `token ${entry.identity} lacks the ${need} scope`) };
    return { entry };
  }

  /**
   * HttpServer's gate: undefined to go on, or the refusal (MP_ERR_UNAUTHENTICATED with
   * WWW-Authenticate set on `res`, or MP_ERR_PERMISSION_DENIED), which the server
   * answers in the protocol of the route.
   */
  admit(req: IncomingMessage, res: ServerResponse, path: string): ModelpipeError | undefined {
    const { entry, error } = this.check(httpNeed(req.method ?? 'GET', path), req.headers.authorization);
    if (entry) identities.set(req, entry.identity);
    if (error?.code === 'MP_ERR_UNAUTHENTICATED') res.setHeader('www-authenticate', 'Bearer realm="modelpipe"');
    return error;
  }

  /** The gRPC transport's gate: a GrpcError (UNAUTHENTICATED / PERMISSION_DENIED) or undefined. */
  grpcCheck(path: string, headers: http2.IncomingHttpHeaders): GrpcError | undefined {
    const { error } = this.check(grpcNeed(path), headers.authorization);
    if (!error) return undefined;
    const code = error.code === 'MP_ERR_UNAUTHENTICATED' ? status.UNAUTHENTICATED : status.PERMISSION_DENIED;
    return new GrpcError(code, error.message, { 'x-modelpipe-error': error.code });
  }
}

const HEALTH = new Set(['/health/live', '/health/ready', '/control/is_alive', '/control/is_ready', '/v2/health/live', '/v2/health/ready']);

/** The scope an HTTP route needs. GraphPipe POSTs (inference and its POSTed metadata request) need `infer`. */
export function httpNeed(method: string, path: string): Need {
  const read = method === 'GET' || method === 'HEAD';
  if (read && (HEALTH.has(path) || /^\/v2\/models\/[^/]+(\/versions\/[^/]+)?\/ready$/.test(path))) return 'health';
  if (path === '/metrics') return 'metrics';
  if (path === '/v2/repository' || path.startsWith('/v2/repository/')) return 'control';
  return read ? 'metadata' : 'infer';
}

const GRPC_NEEDS: Record<string, Need> = {
  ServerLive: 'health',
  ServerReady: 'health',
  ModelReady: 'health',
  ServerMetadata: 'metadata',
  ModelMetadata: 'metadata',
  // Statistics and configuration are read like metadata, as their REST GETs are.
  ModelStatistics: 'metadata',
  ModelConfig: 'metadata',
  ModelInfer: 'infer',
};

/** The scope a gRPC method needs (`…/ModelInfer` → infer); any other method (repository ones) needs control. */
export function grpcNeed(path: string): Need {
  const method = path.slice(path.lastIndexOf('/') + 1);
  return GRPC_NEEDS[method] ?? 'control';
}
