import { HttpTransport } from '../http-transport.js';
import type { ClientSecurity } from '../security.js';
import { EndpointSet } from './endpoint-set.js';
import { httpProbe } from './probe.js';
import type { EndpointOptions } from './route.js';

/**
 * Endpoint sets by target, kept across calls (so each endpoint's health and load
 * outlive a call) for an owner that makes a client per call, as a client pool does.
 * Targets may come from requests, so at most `max` are kept, the oldest closed first
 * (each set probes its endpoints). close() closes them all.
 */
export class KeptSets {
  readonly #sets = new Map<string, EndpointSet>();
  #probeHttp: HttpTransport | undefined;

  constructor(
    private readonly security: () => ClientSecurity,
    private readonly endpoints: EndpointOptions | undefined,
    private readonly max = 64,
  ) {}

  get(target: string): EndpointSet {
    let s = this.#sets.get(target);
    if (s) return s;
    const [oldest] = this.#sets.size >= this.max ? this.#sets : [];
    if (oldest) {
      this.#sets.delete(oldest[0]);
      void oldest[1].close();
    }
    this.#probeHttp ??= new HttpTransport({ connections: 4 });
    s = new EndpointSet(target, { ...this.endpoints, probe: httpProbe(this.#probeHttp, this.security) });
    this.#sets.set(target, s);
    return s;
  }

  async close(): Promise<void> {
    const all = [...this.#sets.values()];
    this.#sets.clear();
    await Promise.all(all.map((s) => s.close()));
    await this.#probeHttp?.close();
  }
}
