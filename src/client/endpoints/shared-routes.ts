import { HttpTransport } from '../http-transport.js';
import { securityOf } from '../security.js';
import type { Probe } from './health.js';
import { httpProbe } from './probe.js';

/*
 * The endpoint sets (or OIP wires over them) behind the functional helpers and client pools that make a
 * client per call: one per target (and kind of probe), kept so each endpoint's
 * health and load outlive a call, and closed by closeDefaultClients().
 */
const routes = new Map<string, { close(): Promise<void> }>();
let probeHttp: HttpTransport | undefined;

/** The kept route for `key` (the kind of client and the target), made on first use. */
export function sharedRoute<T extends { close(): Promise<void> }>(key: string, make: () => T): T {
  let r = routes.get(key) as T | undefined;
  if (!r) {
    r = make();
    routes.set(key, r);
  }
  return r;
}

/** A readiness probe over HTTP on a pool of its own, with the process's security settings. */
export function sharedHttpProbe(): Probe {
  probeHttp ??= new HttpTransport({ connections: 4 });
  return httpProbe(probeHttp, () => securityOf(undefined));
}

export async function closeSharedRoutes(): Promise<void> {
  const all = [...routes.values()];
  routes.clear();
  const http = probeHttp;
  probeHttp = undefined;
  await Promise.all(all.map((r) => r.close()));
  await http?.close();
}
