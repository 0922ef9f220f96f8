import type { TraceContext } from '../observe/tracing.js';
import type { Dispatcher } from 'undici';
import { ModelpipeError } from '../errors/index.js';
import type { OipModelMetadata, OipNamedTensor } from '../protocol/oip/index.js';
import { type Nested, type Tensor, fromNested, isTensor } from '../tensor/index.js';
import { type EndpointOptions, isEndpointSetTarget } from './endpoints/route.js';
import { closeSharedRoutes, sharedRoute } from './endpoints/shared-routes.js';
import { HttpTransport } from './http-transport.js';
import { Lifecycle } from './lifecycle.js';
import { GrpcWire, closeSharedGrpcWires, sharedGrpcWire } from './oip-grpc-client.js';
import { RestWire } from './oip-rest.js';
import { RoutedWire } from './oip-routed.js';
import type { OipResult, OipServerMetadata, OipStatistics, OipWire, WireCall } from './oip-wire.js';
import { type ClientSecurity, closeSharedAgents, securityOf, sharedDispatcher } from './security.js';
import { ClientTarget } from './target.js';

export type { OipResult, OipServerMetadata, OipStatistics } from './oip-wire.js';

/**
 * Open Inference Protocol (KServe v2) client. `transport` picks how it talks:
 * 'rest' (JSON), 'rest-binary' (the binary tensor extension) or 'grpc'; by default
 * grpc:// and grpcs:// URLs speak gRPC and http(s):// URLs REST with binary tensors.
 * Errors are RemoteErrors with the server's stable code, as with the GraphPipe client.
 */
export type OipTransport = 'rest' | 'rest-binary' | 'grpc';

export interface OipClientOptions {
  transport?: OipTransport | undefined;
  /** CA, client certificate and bearer token (default: the process's hop settings, read per call; see security.ts). */
  security?: ClientSecurity | undefined;
  /** Per-call timeout in ms for calls that give none (default 60 s). */
  timeoutMs?: number | undefined;
  /** REST: sockets in the client's own pool (default 64). */
  connections?: number | undefined;
  /** REST: a pool lent by the caller, used instead of the client's own and never closed by it. */
  dispatcher?: Dispatcher | undefined;
  /** gRPC: the largest response message accepted (default 64 MiB). */
  maxResponseBytes?: number | undefined;
  /** For a list or discovery URL: balancing, probes, retry budget, discovery settings. */
  endpoints?: EndpointOptions | undefined;
}

/** Per call. */
export interface OipInferOptions {
  /** Outputs to return (default: the model's default outputs). */
  outputs?: string[];
  /** The classification extension: each of `outputs` comes back as its top k, "score:index[:label]" strings. */
  classification?: number;
  /** Binary tensor data (REST) or raw contents (gRPC) both ways (default: true, false for transport 'rest'). */
  binary?: boolean;
  version?: string;
  id?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** The trace context the call continues (a model run's: RunRequest.trace); absent = the one a synchronous model run set. */
  trace?: TraceContext | undefined;
}

export type OipModelCallOptions = Pick<OipInferOptions, 'version' | 'timeoutMs' | 'signal'>;
export type OipServerCallOptions = Pick<OipInferOptions, 'timeoutMs' | 'signal'>;

export type OipInputs = Record<string, Tensor | Nested> | readonly OipNamedTensor[];

function named(inputs: OipInputs): OipNamedTensor[] {
  if (Array.isArray(inputs)) return [...(inputs as readonly OipNamedTensor[])];
  return Object.entries(inputs as Record<string, Tensor | Nested>).map(([name, v]) => ({ name, tensor: isTensor(v) ? v : fromNested(v) }));
}

/**
 * An OIP client for one server, or for a comma-separated list or discovery URL of
 * several (balanced and failed over, see oip-routed.ts), owning its pool or
 * channels until close().
 */
export class OipClient {
  readonly target: ClientTarget;
  readonly transport: OipTransport;
  readonly #wire: OipWire;
  readonly #life: Lifecycle;
  readonly #opts: OipClientOptions;
  readonly #ownsWire: boolean;

  /** `wire`: a transport lent by the functional helpers (the shared gRPC channels), never closed by this client. */
  constructor(url: string, options: OipClientOptions = {}, wire?: OipWire) {
    this.target = new ClientTarget(url);
    this.transport = options.transport ?? (this.target.grpcScheme ? 'grpc' : 'rest-binary');
    if (this.transport !== 'rest' && this.transport !== 'rest-binary' && this.transport !== 'grpc')
      throw new ModelpipeError('MP_ERR_BAD_CONFIG', `OIP transport must be rest, rest-binary or grpc, got ${String(this.transport)}`);
    if (this.target.grpcScheme && this.transport !== 'grpc')
      throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${url}: a grpc:// URL needs transport grpc, not ${this.transport}`);
    this.#wire = wire ?? ownWire(this.target, this.transport, options);
    this.#life = new Lifecycle(url);
    this.#opts = options;
    this.#ownsWire = wire === undefined;
  }

  get url(): string {
    return this.target.url;
  }

  /** Runs `model` on named inputs; returns the outputs by name. */
  async infer(model: string, inputs: OipInputs, opts: OipInferOptions = {}): Promise<OipResult> {
    const binary = opts.binary ?? this.transport !== 'rest';
    return this.#wire.infer(model, named(inputs), { ...opts, ...this.call(opts), binary, maxResponseBytes: this.#opts.maxResponseBytes });
  }

  /** The model's metadata (name, versions, platform, inputs, outputs). */
  async modelMetadata(model: string, opts: OipModelCallOptions = {}): Promise<OipModelMetadata> {
    return this.#wire.modelMetadata(model, opts.version, this.call(opts));
  }

  /** Whether a model (version) is ready; false for not-ready models, RemoteError (404) for unknown ones. */
  async modelReady(model: string, opts: OipModelCallOptions = {}): Promise<boolean> {
    return this.#wire.modelReady(model, opts.version, this.call(opts));
  }

  async serverLive(opts: OipServerCallOptions = {}): Promise<boolean> {
    return this.#wire.health('live', this.call(opts));
  }

  async serverReady(opts: OipServerCallOptions = {}): Promise<boolean> {
    return this.#wire.health('ready', this.call(opts));
  }

  async serverMetadata(opts: OipServerCallOptions = {}): Promise<OipServerMetadata> {
    return this.#wire.serverMetadata(this.call(opts));
  }

  /** The statistics extension: one model's (or, without `model`, every model's) cumulative counters. */
  async modelStatistics(model?: string, opts: OipModelCallOptions = {}): Promise<OipStatistics> {
    return this.#wire.modelStatistics(model, opts.version, this.call(opts));
  }

  /** The model configuration extension (Triton's ModelConfig field names). */
  async modelConfig(model: string, opts: OipModelCallOptions = {}): Promise<Record<string, unknown>> {
    return this.#wire.modelConfig(model, opts.version, this.call(opts));
  }

  /** Releases the pool or channels after the calls in flight; idempotent. */
  close(): Promise<void> {
    return this.#life.close(() => (this.#ownsWire ? this.#wire.close() : Promise.resolve()));
  }

  private call(opts: OipServerCallOptions): WireCall {
    this.#life.check();
    return { security: securityOf(this.#opts.security), timeoutMs: opts.timeoutMs ?? this.#opts.timeoutMs ?? 60_000, signal: opts.signal };
  }
}

/** The wire a client owns: one endpoint's, or a routed one over an endpoint set. */
function ownWire(target: ClientTarget, transport: OipTransport, options: OipClientOptions): OipWire {
  const grpc = transport === 'grpc';
  if (isEndpointSetTarget(target.url)) {
    const security = () => securityOf(options.security);
    return new RoutedWire(target.url, { grpc, http: new HttpTransport(options), security, endpoints: options.endpoints });
  }
  return grpc ? new GrpcWire(target) : new RestWire(target, new HttpTransport(options));
}

/*
 * The functional helpers: a call each, on a client that borrows the process-wide
 * resources (the shared HTTP pools; one kept gRPC wire per address, as the channels
 * always were), all closed by closeDefaultClients(). Named oip* (the GraphPipe ones
 * graphPipe*); the unprefixed names are the old, deprecated spellings.
 */

/** Per-call options of the functional helpers: a call's options plus what a client would hold. */
export interface OipCallOptions extends OipInferOptions {
  /** REST: the connection pool to use (default: the shared pool for the call's TLS settings). */
  dispatcher?: Dispatcher;
  /** gRPC: the largest response message accepted (default 64 MiB). */
  maxResponseBytes?: number;
  /** CA, client certificate and bearer token (default: the process's, see security.ts). */
  security?: ClientSecurity;
}

type ModelCall = Pick<OipCallOptions, 'version' | 'timeoutMs' | 'signal' | 'security'>;
type ServerCall = Pick<OipCallOptions, 'timeoutMs' | 'signal' | 'security'>;

function borrowed(url: string, opts: Pick<OipCallOptions, 'security' | 'dispatcher' | 'maxResponseBytes'>): OipClient {
  const security = securityOf(opts.security);
  if (isEndpointSetTarget(url)) {
    const grpc = new ClientTarget(url).grpcScheme;
    const wire = sharedRoute(
      `oip ${url}`,
      () => new RoutedWire(url, { grpc, http: new HttpTransport({}), security: () => securityOf(undefined) }),
    );
    return new OipClient(url, { security, maxResponseBytes: opts.maxResponseBytes }, wire);
  }
  if (new ClientTarget(url).grpcScheme)
    return new OipClient(url, { security, maxResponseBytes: opts.maxResponseBytes }, sharedGrpcWire(url));
  return new OipClient(url, { security, dispatcher: opts.dispatcher ?? sharedDispatcher(security) });
}

export const oipInfer = (url: string, model: string, inputs: OipInputs, opts: OipCallOptions = {}): Promise<OipResult> =>
  borrowed(url, opts).infer(model, inputs, opts);
export const oipModelMetadata = (url: string, model: string, opts: ModelCall = {}): Promise<OipModelMetadata> =>
  borrowed(url, opts).modelMetadata(model, opts);
export const oipModelReady = (url: string, model: string, opts: ModelCall = {}): Promise<boolean> =>
  borrowed(url, opts).modelReady(model, opts);
export const oipServerLive = (url: string, opts: ServerCall = {}): Promise<boolean> => borrowed(url, opts).serverLive(opts);
export const oipServerReady = (url: string, opts: ServerCall = {}): Promise<boolean> => borrowed(url, opts).serverReady(opts);
export const oipServerMetadata = (url: string, opts: ServerCall = {}): Promise<OipServerMetadata> =>
  borrowed(url, opts).serverMetadata(opts);

/**
 * Closes what the functional helpers share (HTTP pools, gRPC channels); calls in
 * flight finish first, later calls open fresh ones. Client objects are not affected.
 */
export async function closeDefaultClients(): Promise<void> {
  await Promise.all([closeSharedAgents(), closeSharedGrpcWires(), closeSharedRoutes()]);
}

/** @deprecated use oipInfer (or an OipClient's infer) */
export const infer = oipInfer;
/** @deprecated use oipModelMetadata (or an OipClient's modelMetadata) */
export const modelMetadata = oipModelMetadata;
/** @deprecated use oipModelReady (or an OipClient's modelReady) */
export const modelReady = oipModelReady;
/** @deprecated use oipServerLive (or an OipClient's serverLive) */
export const serverLive = oipServerLive;
/** @deprecated use oipServerReady (or an OipClient's serverReady) */
export const serverReady = oipServerReady;
/** @deprecated use closeDefaultClients (it closes the HTTP pools the helpers share too) */
export const closeGrpcClients = closeDefaultClients;
