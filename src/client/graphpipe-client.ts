import type { TraceContext } from '../observe/tracing.js';
import type { Dispatcher } from 'undici';
import { ERROR_CODES, ModelpipeError, isErrorCode } from '../errors/index.js';
import {
  type MetadataResponse,
  decodeInferResponse,
  decodeMetadataResponse,
  encodeRequest,
  encodeRequestChunks,
} from '../protocol/graphpipe/index.js';
import { type Nested, type Tensor, fromNested, isTensor, toNested } from '../tensor/index.js';
import { EndpointSet } from './endpoints/endpoint-set.js';
import { KeptSets } from './endpoints/kept-sets.js';
import { httpProbe } from './endpoints/probe.js';
import { type EndpointOptions, type Route, isEndpointSetTarget, routeFor } from './endpoints/route.js';
import { sharedHttpProbe, sharedRoute } from './endpoints/shared-routes.js';
import { RemoteError, retryAfterMs } from './errors.js';
import { HttpTransport, LARGE_BODY } from './http-transport.js';
import { Lifecycle } from './lifecycle.js';
import { type ClientSecurity, PerSecurity, newAgent, securityOf, sharedDispatcher, tlsKey } from './security.js';
import { ClientTarget } from './target.js';

/** What a GraphPipe client holds for all its calls. */
export interface GraphPipeClientOptions {
  /** CA, client certificate and bearer token (default: the process's hop settings, read per call; see security.ts). */
  security?: ClientSecurity | undefined;
  /** Whole-call timeout in ms for calls that give none (default 60 s). */
  timeoutMs?: number | undefined;
  /** Sockets in the client's own pool (default 64). */
  connections?: number | undefined;
  /** A pool lent by the caller, used instead of the client's own and never closed by it. */
  dispatcher?: Dispatcher | undefined;
  /** For a list or discovery URL: balancing, probes, retry budget, discovery settings. */
  endpoints?: EndpointOptions | undefined;
  /** Endpoints lent by the caller (a pool's or the helpers' kept set), never closed by the client. */
  route?: Route | undefined;
}

/** Per call. */
export interface GraphPipeCallOptions {
  config?: string;
  /** Whole-call timeout in ms (default: the client's). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** The trace context the call continues (a model run's: RunRequest.trace); absent = the one a synchronous model run set. */
  trace?: TraceContext | undefined;
  inputNames?: string[];
  outputNames?: string[];
}

export type GraphPipeSingleOptions = Omit<GraphPipeCallOptions, 'inputNames' | 'outputNames'> & { inputName?: string; outputName?: string };

/**
 * A GraphPipe client for a model's endpoint URL, or a comma-separated list or
 * discovery URL of several (balanced, probed and failed over: endpoints/). It owns
 * its connection pool, security and default timeout; close() releases the pool once
 * the calls in flight have finished, and calls after it fail with MP_ERR_CLIENT_CLOSED.
 * Errors are RemoteErrors carrying the server's stable code.
 */
export class GraphPipeClient {
  readonly target: ClientTarget;
  readonly #http: HttpTransport;
  readonly #life: Lifecycle;
  readonly #security: ClientSecurity | undefined;
  readonly #timeoutMs: number;
  readonly #route: Route;
  readonly #ownsRoute: boolean;

  constructor(url: string, options: GraphPipeClientOptions = {}) {
    this.target = new ClientTarget(url);
    this.#http = new HttpTransport(options);
    this.#life = new Lifecycle(url);
    this.#security = options.security;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#ownsRoute = options.route === undefined;
    this.#route = options.route ?? routeFor(url, { ...options.endpoints, probe: httpProbe(this.#http, () => securityOf(this.#security)) });
  }

  get url(): string {
    return this.target.url;
  }

  /** Sends tensors, returns tensors. Names may be omitted to use the server's defaults. */
  async inferManyRaw(inputs: readonly Tensor[], opts: GraphPipeCallOptions = {}): Promise<Tensor[]> {
    const req = {
      type: 'infer' as const,
      config: opts.config ?? '',
      inputNames: opts.inputNames ?? [],
      inputs: [...inputs],
      outputNames: opts.outputNames ?? [],
    };
    let total = 0;
    for (const t of inputs) total += t.byteLength;
    const { url, body } = await this.post(total >= LARGE_BODY ? encodeRequestChunks(req) : [encodeRequest(req)], opts);
    let res: ReturnType<typeof decodeInferResponse>;
    try {
      res = decodeInferResponse(body);
    } catch (err: unknown) {
      throw new RemoteError('MP_ERR_BAD_RESPONSE', `${url}: unreadable response: ${(err as Error).message}`, { url, cause: err });
    }
    const e = res.errors[0];
    if (e) throw RemoteError.fromWire(url, 200, e.code, e.message);
    checkOutputCount(url, res.outputs, req.outputNames);
    return res.outputs;
  }

  /** Nested arrays (or tensors) in, nested arrays out. */
  async inferMany(inputs: readonly (Tensor | Nested)[], opts: GraphPipeCallOptions = {}): Promise<Nested[]> {
    return (await this.inferManyRaw(inputs.map(asTensor), opts)).map(toNested);
  }

  /** One tensor in, the first requested output (or the server's first default) out. */
  async inferRaw(input: Tensor, opts: GraphPipeSingleOptions = {}): Promise<Tensor> {
    const out = await this.inferManyRaw([input], {
      ...opts,
      ...(opts.inputName ? { inputNames: [opts.inputName] } : {}),
      ...(opts.outputName ? { outputNames: [opts.outputName] } : {}),
    });
    if (out[0] === undefined)
      throw new ModelpipeError('MP_ERR_BAD_RESPONSE', `${this.url}: response has no output tensors`, { url: this.url });
    return out[0];
  }

  /** Like inferRaw, with nested arrays (or a tensor) in and nested arrays out. */
  async infer(input: Tensor | Nested, opts: GraphPipeSingleOptions = {}): Promise<Nested> {
    return toNested(await this.inferRaw(asTensor(input), opts));
  }

  /** The server's GraphPipe metadata (a flatbuffer MetadataRequest, as every GraphPipe server answers). */
  async metadata(opts: Pick<GraphPipeCallOptions, 'timeoutMs' | 'signal'> = {}): Promise<MetadataResponse> {
    const { url, body } = await this.post([encodeRequest({ type: 'metadata' })], opts);
    try {
      return decodeMetadataResponse(body);
    } catch (err: unknown) {
      throw new RemoteError('MP_ERR_BAD_RESPONSE', `${url}: unreadable metadata: ${(err as Error).message}`, { url, cause: err });
    }
  }

  /** Releases the pool after the calls in flight; idempotent. */
  close(): Promise<void> {
    return this.#life.close(async () => {
      if (this.#ownsRoute) await this.#route.close();
      await this.#http.close();
    });
  }

  /** Posts to one endpoint (failing over to others when it has several); the body of a 200 and the URL that sent it. */
  private post(
    chunks: Uint8Array[],
    opts: Pick<GraphPipeCallOptions, 'timeoutMs' | 'signal' | 'trace'>,
  ): Promise<{ url: string; body: Uint8Array }> {
    this.#life.check();
    // Accept: errors as an InferResponse with `errors` (code and message), not the reference text body.
    const headers = { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' };
    const timeoutMs = opts.timeoutMs ?? this.#timeoutMs;
    const security = securityOf(this.#security);
    return this.#route.call(
      async (url, remainingMs) => {
        const res = await this.#http.send(
          url,
          'POST',
          security,
          { chunks, headers },
          { timeoutMs: remainingMs, signal: opts.signal, trace: opts.trace },
        );
        if (res.status !== 200) throw errorFromBody(url, res.status, res.body, res.headers);
        return { url, body: res.body };
      },
      { timeoutMs, signal: opts.signal, trace: opts.trace },
    );
  }
}

/**
 * Clients for URLs known only per call (hybrid sequencing's next hops): each
 * `client(url)` is a GraphPipeClient on pools this object owns (one per distinct TLS
 * settings; undici keeps sockets per origin inside), so nothing per URL accumulates.
 * close() releases the pools once their calls have finished; client() after it fails
 * with MP_ERR_CLIENT_CLOSED (the clients are meant for a call or a request each).
 */
export class GraphPipeClientPool {
  readonly #agents: PerSecurity<Dispatcher>;
  readonly #life = new Lifecycle('client pool');
  /** Endpoint sets of the list and discovery targets asked for. */
  readonly #sets: KeptSets;

  constructor(private readonly options: Omit<GraphPipeClientOptions, 'dispatcher'> = {}) {
    this.#agents = new PerSecurity<Dispatcher>(
      tlsKey,
      (s) => newAgent(s, options.connections),
      (a) => a.close(),
    );
    this.#sets = new KeptSets(() => securityOf(options.security), options.endpoints);
  }

  /** A client for `url` on this pool's sockets (`security` overrides the pool's). */
  client(url: string, security?: ClientSecurity): GraphPipeClient {
    this.#life.check();
    const sec = securityOf(security ?? this.options.security);
    const route = isEndpointSetTarget(url) ? this.#sets.get(url) : undefined;
    return new GraphPipeClient(url, { ...this.options, security: sec, dispatcher: this.#agents.get(sec), route });
  }

  close(): Promise<void> {
    return this.#life.close(async () => {
      await this.#sets.close();
      await this.#agents.closeAll();
    });
  }
}

/**
 * A non-200 answer: a GraphPipe InferResponse with errors (modelpipe, asked by Accept),
 * or plain text (graphpipe-go; modelpipe without the Accept header, whose code is then
 * in `x-modelpipe-error`).
 */
function errorFromBody(url: string, status: number, body: Uint8Array, headers: Record<string, unknown>): RemoteError {
  const retry = status === 429 ? { retryAfterMs: retryAfterMs(headers['retry-after']) } : {};
  try {
    const r = decodeInferResponse(body);
    const e = r.errors[0];
    if (e) return RemoteError.fromWire(url, status, e.code, e.message, retry.retryAfterMs);
  } catch {
    // not a flatbuffer: fall through to text
  }
  const text = new TextDecoder().decode(body.subarray(0, 1000)).trim();
  const codeHeader = headers['x-modelpipe-error'];
  const code = typeof codeHeader === 'string' && isErrorCode(codeHeader) ? codeHeader : undefined;
  if (code && text) return new RemoteError(code, `${url}: ${text}`, { url, status, remoteCode: ERROR_CODES[code].num, ...retry });
  return new RemoteError('MP_ERR_REMOTE', `${url}: HTTP ${status}${text ? `: ${text}` : ''}`, { url, status, ...retry });
}

/**
 * GraphPipe tensors carry no names, so a server that ignores `output_names` (graphpipe-go's
 * gp.Serve does) would hand back the wrong tensors silently: the count must match.
 */
function checkOutputCount(url: string, outputs: Tensor[], wanted: readonly string[]): void {
  if (wanted.length === 0 || outputs.length === wanted.length) return;
  throw new RemoteError(
    'MP_ERR_BAD_RESPONSE',
    `${url}: asked for ${wanted.length} output${wanted.length === 1 ? '' : 's'} (${wanted.join(', ')}), the server returned ${outputs.length}: it may ignore output names`,
    { url },
  );
}

const asTensor = (x: Tensor | Nested): Tensor => (isTensor(x) ? x : fromNested(x));

/*
 * The functional helpers: a call each, on a client that borrows the process-wide
 * pool for its security settings (closeDefaultClients() closes those pools) unless
 * the call lends its own `dispatcher`. Named graphPipe* (the OIP ones oip*); the
 * unprefixed names are the old, deprecated spellings.
 */

/** Per-call options of the functional helpers: a call's options plus what a client would hold. */
export interface CallOptions extends Omit<GraphPipeCallOptions, 'inputNames' | 'outputNames'> {
  /** Connection pool to use (default: the shared keep-alive pool for the call's TLS settings). */
  dispatcher?: Dispatcher;
  /** CA, client certificate and bearer token (default: the process's, see security.ts). */
  security?: ClientSecurity;
}

export interface MultiOptions extends CallOptions {
  inputNames?: string[];
  outputNames?: string[];
}

export type SingleOptions = CallOptions & { inputName?: string; outputName?: string };

/** A client for one call, on a lent pool: nothing of its own to close. */
function borrowed(url: string, opts: CallOptions): GraphPipeClient {
  const security = securityOf(opts.security);
  const route = isEndpointSetTarget(url)
    ? sharedRoute(`graphpipe ${url}`, () => new EndpointSet(url, { probe: sharedHttpProbe() }))
    : undefined;
  return new GraphPipeClient(url, { security, dispatcher: opts.dispatcher ?? sharedDispatcher(security), route });
}

export const graphPipeMultiRemoteRaw = (url: string, inputs: readonly Tensor[], opts: MultiOptions = {}): Promise<Tensor[]> =>
  borrowed(url, opts).inferManyRaw(inputs, opts);
export const graphPipeMultiRemote = (url: string, inputs: readonly (Tensor | Nested)[], opts: MultiOptions = {}): Promise<Nested[]> =>
  borrowed(url, opts).inferMany(inputs, opts);
export const graphPipeRemoteRaw = (url: string, input: Tensor, opts: SingleOptions = {}): Promise<Tensor> =>
  borrowed(url, opts).inferRaw(input, opts);
export const graphPipeRemote = (url: string, input: Tensor | Nested, opts: SingleOptions = {}): Promise<Nested> =>
  borrowed(url, opts).infer(input, opts);
export const graphPipeMetadata = (url: string, opts: CallOptions = {}): Promise<MetadataResponse> => borrowed(url, opts).metadata(opts);

/** @deprecated use graphPipeMultiRemoteRaw (or a GraphPipeClient's inferManyRaw) */
export const multiRemoteRaw = graphPipeMultiRemoteRaw;
/** @deprecated use graphPipeMultiRemote (or a GraphPipeClient's inferMany) */
export const multiRemote = graphPipeMultiRemote;
/** @deprecated use graphPipeRemoteRaw (or a GraphPipeClient's inferRaw) */
export const remoteRaw = graphPipeRemoteRaw;
/** @deprecated use graphPipeRemote (or a GraphPipeClient's infer) */
export const remote = graphPipeRemote;
/** @deprecated use graphPipeMetadata (or a GraphPipeClient's metadata) */
export const metadata = graphPipeMetadata;
/** @deprecated the shared pool of the functional helpers; client objects own theirs */
export const defaultDispatcher = (): Dispatcher => sharedDispatcher({});
