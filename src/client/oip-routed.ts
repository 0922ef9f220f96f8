import type { OipModelMetadata, OipNamedTensor } from '../protocol/oip/index.js';
import { EndpointSet } from './endpoints/endpoint-set.js';
import type { Probe } from './endpoints/health.js';
import { httpProbe } from './endpoints/probe.js';
import type { EndpointOptions } from './endpoints/route.js';
import type { HttpTransport } from './http-transport.js';
import { GrpcWire } from './oip-grpc-client.js';
import { RestWire } from './oip-rest.js';
import type { OipResult, OipServerMetadata, OipStatistics, OipWire, WireCall, WireInfer } from './oip-wire.js';
import type { ClientSecurity } from './security.js';
import { ClientTarget } from './target.js';

export interface RoutedWireOptions {
  grpc: boolean;
  /** REST: the pools every endpoint's wire and the probes use (closed with this wire). */
  http: HttpTransport;
  /** The security a probe uses (a call brings its own). */
  security: () => ClientSecurity;
  endpoints?: EndpointOptions | undefined;
}

/**
 * The OIP transport over an endpoint set: a wire per endpoint (a REST wire on the
 * shared pools, or a gRPC wire with its own channel), each call on the endpoint the
 * set picks, failing over as the set's rules allow. gRPC endpoints are probed with
 * ServerReady, REST ones over HTTP (probe.ts).
 */
export class RoutedWire implements OipWire {
  readonly set: EndpointSet;
  readonly #wires = new Map<string, OipWire>();
  readonly #opts: RoutedWireOptions;

  constructor(target: string, opts: RoutedWireOptions) {
    this.#opts = opts;
    const probe: Probe = opts.grpc
      ? (url, timeoutMs) => this.#wire(url).health('ready', { security: opts.security(), timeoutMs })
      : httpProbe(opts.http, opts.security);
    this.set = new EndpointSet(target, { ...opts.endpoints, probe, onRemoved: (url) => this.#drop(url) });
  }

  infer(model: string, inputs: readonly OipNamedTensor[], o: WireInfer): Promise<OipResult> {
    return this.#on(o, (w, c) => w.infer(model, inputs, { ...o, ...c }));
  }

  modelMetadata(model: string, version: string | undefined, o: WireCall): Promise<OipModelMetadata> {
    return this.#on(o, (w, c) => w.modelMetadata(model, version, c));
  }

  health(what: 'live' | 'ready', o: WireCall): Promise<boolean> {
    return this.#on(o, (w, c) => w.health(what, c));
  }

  modelReady(model: string, version: string | undefined, o: WireCall): Promise<boolean> {
    return this.#on(o, (w, c) => w.modelReady(model, version, c));
  }

  serverMetadata(o: WireCall): Promise<OipServerMetadata> {
    return this.#on(o, (w, c) => w.serverMetadata(c));
  }

  modelStatistics(model: string | undefined, version: string | undefined, o: WireCall): Promise<OipStatistics> {
    return this.#on(o, (w, c) => w.modelStatistics(model, version, c));
  }

  modelConfig(model: string, version: string | undefined, o: WireCall): Promise<Record<string, unknown>> {
    return this.#on(o, (w, c) => w.modelConfig(model, version, c));
  }

  async close(): Promise<void> {
    await this.set.close();
    const wires = [...this.#wires.values()];
    this.#wires.clear();
    // REST wires share the pools closed below; gRPC wires own their channels.
    if (this.#opts.grpc) await Promise.all(wires.map((w) => w.close()));
    await this.#opts.http.close();
  }

  #on<T>(o: WireCall, f: (w: OipWire, c: WireCall) => Promise<T>): Promise<T> {
    return this.set.call((url, timeoutMs) => f(this.#wire(url), { ...o, timeoutMs }), {
      timeoutMs: o.timeoutMs,
      signal: o.signal,
      trace: o.trace,
    });
  }

  #wire(url: string): OipWire {
    let w = this.#wires.get(url);
    if (!w) {
      const t = new ClientTarget(url);
      w = this.#opts.grpc ? new GrpcWire(t) : new RestWire(t, this.#opts.http);
      this.#wires.set(url, w);
    }
    return w;
  }

  /** An endpoint discovery dropped: its channel closes once its calls have ended. */
  #drop(url: string): void {
    const w = this.#wires.get(url);
    this.#wires.delete(url);
    if (w && this.#opts.grpc) void w.close();
  }
}
