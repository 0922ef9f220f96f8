import type { TraceContext } from '../observe/tracing.js';
import { RemoteError } from '../client/errors.js';
import { GraphPipeClient, GraphPipeClientPool, graphPipeMultiRemoteRaw } from '../client/graphpipe-client.js';
import type { ClientSecurity } from '../client/security.js';
import { ModelpipeError } from '../errors/index.js';
import { type ApplyContext, type ApplyFn, FunctionModel, type FunctionModelOptions } from '../models/function-model.js';
import { type Nested, type Tensor, fromNested, isTensor, toNested } from '../tensor/index.js';
import { type HopPolicy, hopPolicy, shownHop } from './hop-policy.js';

/**
 * The three sequencing architectures of "Machine Learning Model Pipelines: Part II".
 * - client sequencing: the client calls each model in turn (`chain`);
 * - server sequencing: a model's apply calls a fixed next model (`serverSequenced`);
 * - hybrid sequencing: the next hop travels in the request's config (`hybridSequenced`).
 * The sequenced models own their hop clients and close them when the model is closed
 * (the engine does, on unload or stop); `chain` is a client-side helper that uses the
 * hops' own `client` objects where given, else the shared pools of the functional helpers.
 */

export interface Hop {
  url: string;
  inputName?: string;
  outputName?: string;
  config?: string;
  timeoutMs?: number;
  /** CA, client certificate and bearer token for this hop (default: the process's hop settings). */
  security?: ClientSecurity;
  /** A client for `url` to call the hop with, owned by the caller (`security` is then the client's). */
  client?: GraphPipeClient;
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
 * Calls one hop with a single tensor, returning its first (or named) output: on
 * `hop.client` when it has one, else on the functional helpers' shared pools.
 * `conceal`: see hopError (true when a server calls the hop for a remote caller).
 * `trace`: the calling model run's trace context (ApplyContext.trace), which the hop continues.
 */
export async function callHop(hop: Hop, input: Tensor, signal?: AbortSignal, conceal = false, trace?: TraceContext): Promise<Tensor> {
  const opts = {
    ...(hop.inputName ? { inputNames: [hop.inputName] } : {}),
    ...(hop.outputName ? { outputNames: [hop.outputName] } : {}),
    ...(hop.config ? { config: hop.config } : {}),
    ...(hop.timeoutMs !== undefined ? { timeoutMs: hop.timeoutMs } : {}),
    ...(signal ? { signal } : {}),
    ...(trace ? { trace } : {}),
  };
  try {
    const out = hop.client
      ? await hop.client.inferManyRaw([input], opts)
      : await graphPipeMultiRemoteRaw(hop.url, [input], { ...opts, ...(hop.security ? { security: hop.security } : {}) });
    const t = out[0];
    if (!t) throw new ModelpipeError('MP_ERR_BAD_RESPONSE', 'no output tensor');
    return t;
  } catch (err: unknown) {
    throw hopError(hop.url, err, conceal);
  }
}

/**
 * A function model that calls other servers and closes what it owns (its hop
 * clients) when it is closed: sequencing's models, and Classy's forwarding stages.
 */
export class HopModel extends FunctionModel {
  constructor(
    apply: ApplyFn,
    opts: FunctionModelOptions,
    private readonly release: () => Promise<void>,
  ) {
    super(apply, opts);
  }

  override async close(): Promise<void> {
    await super.close();
    await this.release();
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

/**
 * Server sequencing: a function model that applies `apply`, then forwards to a fixed
 * next model, on a client of its own (closed with the model) unless the hop brings one.
 */
export function serverSequenced(apply: ApplyFn, next: Hop | string, opts: FunctionModelOptions): FunctionModel {
  const given = typeof next === 'string' ? { url: next } : next;
  const own = given.client ? undefined : new GraphPipeClient(given.url, { security: given.security });
  const hop = own ? { ...given, client: own } : given;
  const model = async (inputs: Record<string, Tensor | Nested>, config: string, ctx: ApplyContext) => {
    const local = await apply(inputs, config, ctx);
    return callHop(hop, toTensor(local, opts), ctx.signal, true, ctx.trace);
  };
  return new HopModel(model, opts, async () => own?.close());
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

/**
 * Hybrid sequencing: like serverSequenced, but the next hop comes from each request's
 * config. Its hop clients share one connection pool the model owns (hops are known
 * only per request), closed with the model.
 */
export function hybridSequenced(apply: ApplyFn, opts: HybridOptions): FunctionModel {
  const { allowHops, ...modelOpts } = opts;
  const hops = hopPolicy(allowHops);
  const pool = new GraphPipeClientPool();
  const model = async (inputs: Record<string, Tensor | Nested>, config: string, ctx: ApplyContext) => {
    const hop = parseNextHop(config);
    if (hop) hops.check(hop.url); // before apply: a refused request costs nothing
    const local = await apply(inputs, config, ctx);
    if (!hop) return local;
    return callHop({ ...hop, client: pool.client(hop.url) }, toTensor(local, modelOpts), ctx.signal, true, ctx.trace);
  };
  return new HopModel(model, modelOpts, () => pool.close());
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
