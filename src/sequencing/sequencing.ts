import { multiRemoteRaw } from '../client/graphpipe-client.js';
import { RemoteError } from '../client/errors.js';
import type { ClientSecurity } from '../client/security.js';
import { ModelpipeError } from '../errors/index.js';
import { type ApplyFn, FunctionModel, type FunctionModelOptions } from '../models/function-model.js';
import { type Nested, type Tensor, fromNested, isTensor, toNested } from '../tensor/index.js';
import { type HopPolicy, hopPolicy, shownHop } from './hop-policy.js';

/**
 * The three sequencing architectures of "Machine Learning Model Pipelines: Part II".
 * - client sequencing: the client calls each model in turn (`chain`);
 * - server sequencing: a model's apply calls a fixed next model (`serverSequenced`);
 * - hybrid sequencing: the next hop travels in the request's config (`hybridSequenced`).
 */

export interface Hop {
  url: string;
  inputName?: string;
  outputName?: string;
  config?: string;
  timeoutMs?: number;
  /** CA, client certificate and bearer token for this hop (default: the process's hop settings). */
  security?: ClientSecurity;
}

/**
 * Wraps a hop failure so it names the hop's URL and the cause. `conceal` (servers
 * calling hops for a remote caller) keeps the hop's raw answer out of the message.
 */
export function hopError(url: string, err: unknown, conceal = false): ModelpipeError {
  const cause = conceal ? upstreamSafeMessage(err) : err instanceof Error ? err.message : String(err);
  const status = err instanceof ModelpipeError ? err.status : 502;
  return new RemoteError('MP_ERR_HOP', `hop ${shownHop(url)} failed: ${cause}`, {
    url,
    status: status >= 500 ? status : 502,
    cause: err,
  });
}

const MAX_MESSAGE = 1000;

/**
 * An error's message fit to travel back to whoever named the hop. A hop that did
 * not answer GraphPipe (a non-GraphPipe error page, or bytes the decoder could not
 * read) is described by its status only: the client's message would quote the
 * body's first bytes or its length, which must not leak to a caller who may have
 * pointed the hop somewhere it should not see. GraphPipe errors a hop sent on
 * purpose pass on, bounded in length.
 */
export function upstreamSafeMessage(err: unknown): string {
  if (err instanceof RemoteError && err.remoteCode === undefined && err.url !== undefined) {
    const where = shownHop(err.url);
    if (err.code === 'MP_ERR_REMOTE') return `${where}: HTTP ${err.status}, not a GraphPipe answer`;
    if (err.code === 'MP_ERR_BAD_RESPONSE') return `${where}: the answer is not a readable GraphPipe response`;
  }
  const m = err instanceof Error ? err.message : String(err);
  return m.length > MAX_MESSAGE ? `${m.slice(0, MAX_MESSAGE)}…` : m;
}

/**
 * Calls one hop with a single tensor, returning its first (or named) output.
 * `conceal`: see hopError (true when a server calls the hop for a remote caller).
 */
export async function callHop(hop: Hop, input: Tensor, signal?: AbortSignal, conceal = false): Promise<Tensor> {
  try {
    const out = await multiRemoteRaw(hop.url, [input], {
      ...(hop.inputName ? { inputNames: [hop.inputName] } : {}),
      ...(hop.outputName ? { outputNames: [hop.outputName] } : {}),
      ...(hop.config ? { config: hop.config } : {}),
      ...(hop.timeoutMs !== undefined ? { timeoutMs: hop.timeoutMs } : {}),
      ...(signal ? { signal } : {}),
      ...(hop.security ? { security: hop.security } : {}),
    });
    const t = out[0];
    if (!t) throw new ModelpipeError('MP_ERR_BAD_RESPONSE', 'no output tensor');
    return t;
  } catch (err: unknown) {
    throw hopError(hop.url, err, conceal);
  }
}

/** Client sequencing: each hop's output is the next hop's input. Returns every intermediate result. */
export async function chain(
  hops: readonly (Hop | string)[],
  input: Tensor | Nested,
  opts: { signal?: AbortSignal } = {},
): Promise<Tensor[]> {
  let cur = isTensor(input) ? input : fromNested(input);
  const seen: Tensor[] = [];
  for (const h of hops) {
    cur = await callHop(typeof h === 'string' ? { url: h } : h, cur, opts.signal);
    seen.push(cur);
  }
  return seen;
}

/** Server sequencing: a function model that applies `apply`, then forwards to a fixed next model. */
export function serverSequenced(apply: ApplyFn, next: Hop | string, opts: FunctionModelOptions): FunctionModel {
  const hop = typeof next === 'string' ? { url: next } : next;
  return new FunctionModel(async (inputs, config, ctx) => {
    const local = await apply(inputs, config, ctx);
    return callHop(hop, toTensor(local, opts), ctx.signal, true);
  }, opts);
}

/**
 * The next hop in a config string: a bare URL, or JSON `{"next": url, "config": "..."}`
 * where `config` is passed on to the next hop (so chains can be several hops deep).
 */
export function parseNextHop(config: string): Hop | undefined {
  const c = config.trim();
  if (c === '') return undefined;
  if (c.startsWith('{')) {
    let j: { next?: unknown; config?: unknown };
    try {
      j = JSON.parse(c) as typeof j;
    } catch (err: unknown) {
      throw new ModelpipeError('MP_ERR_BAD_CONFIG', `config is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof j.next !== 'string') throw new ModelpipeError('MP_ERR_BAD_CONFIG', 'config JSON needs a "next" URL');
    return { url: j.next, ...(typeof j.config === 'string' ? { config: j.config } : {}) };
  }
  if (!/^https?:\/\//.test(c)) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `config ${JSON.stringify(c)} is not a next-hop URL`);
  return { url: c };
}

export interface HybridOptions extends FunctionModelOptions {
  /**
   * The next hops a request may name (see hop-policy.ts: URLs, CIDRs, host
   * patterns). Any other is refused with MP_ERR_FORBIDDEN_ADDRESS before a
   * connection is made; without this option no next hop is allowed.
   */
  readonly allowHops?: HopPolicy | readonly string[];
}

/** Hybrid sequencing: like serverSequenced, but the next hop comes from each request's config. */
export function hybridSequenced(apply: ApplyFn, opts: HybridOptions): FunctionModel {
  const { allowHops, ...modelOpts } = opts;
  const hops = hopPolicy(allowHops);
  return new FunctionModel(async (inputs, config, ctx) => {
    const hop = parseNextHop(config);
    if (hop) hops.check(hop.url); // before apply: a refused request costs nothing
    const local = await apply(inputs, config, ctx);
    if (!hop) return local;
    return callHop(hop, toTensor(local, modelOpts), ctx.signal, true);
  }, modelOpts);
}

function toTensor(v: unknown, opts: FunctionModelOptions): Tensor {
  if (isTensor(v)) return v;
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)) {
    const first = opts.outputs[0]?.name;
    const x = first === undefined ? undefined : (v as Record<string, unknown>)[first];
    if (x !== undefined) return toTensor(x, opts);
  }
  return fromNested(v as Nested, opts.outputs[0]?.dtype);
}

export { toNested };
