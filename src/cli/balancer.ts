import { Engine } from '../core/engine.js';
import { EndpointSet } from '../client/endpoints/endpoint-set.js';
import { httpProbe } from '../client/endpoints/probe.js';
import { HttpTransport } from '../client/http-transport.js';
import { newAgent, securityOf } from '../client/security.js';
import { listenAddress } from '../flags/args.js';
import type { AnnounceValues } from '../flags/announce-flags.js';
import type { limitsFromFlags } from '../flags/limit-flags.js';
import { reloadOnSighup, type ServerSecurity, warnIfExposed } from '../flags/security-flags.js';
import type { Logger } from '../observe/logger.js';
import { ForwardingFrontend } from '../server/forwarding-frontend.js';
import { HttpServer } from '../server/http-server.js';
import { stopOnSignals } from '../server/signals.js';
import { announceServer } from './announce.js';
import { optional } from './serve-flags.js';

/** Connections per endpoint when every request is its own upstream request. */
export const BALANCER_CONNECTIONS = 64;

/**
 * `modelpipe batcher --target a,b,c --no-batch`: a plain L7 balancer over an endpoint
 * set (see server/forwarding-frontend.ts). It is ready while at least one endpoint is
 * not ejected; /metrics are its own (requests and failures by HTTP server limits).
 */
export async function startBalancer(o: {
  target: string;
  listen: string | undefined;
  /** Connections per endpoint (default BALANCER_CONNECTIONS). */
  connections: number | undefined;
  bodyLimit: number | undefined;
  timeoutMs: number | undefined;
  limits: ReturnType<typeof limitsFromFlags>;
  security: ServerSecurity;
  log: Logger;
  /** --announce / --advertise: the balancer joins a registry as the batching mode does. */
  announce: AnnounceValues;
}): Promise<void> {
  const { security, log } = o;
  const hop = securityOf(undefined); // --hop-* (set by serverSecurityFromFlags)
  const probes = new HttpTransport({ connections: 4 });
  const set = new EndpointSet(o.target, { probe: httpProbe(probes, () => hop) });
  await set.ready();
  const dispatcher = newAgent(hop, o.connections ?? BALANCER_CONNECTIONS);
  const engine = new Engine(); // no models: only its metrics registry serves /metrics
  const server = new HttpServer({
    engine,
    logger: log,
    frontends: [new ForwardingFrontend(set, dispatcher, hop)],
    operations: {
      ready: () => set.endpoints().some((e) => e.health !== 'ejected'),
      metrics: async () => ({ contentType: engine.metrics.registry.contentType, text: await engine.metrics.text() }),
    },
    ...optional('bodyLimit', o.bodyLimit),
    ...optional('timeoutMs', o.timeoutMs),
    ...o.limits,
    ...security,
  });
  let announcement: Awaited<ReturnType<typeof announceServer>>;
  stopOnSignals(async () => {
    await announcement?.leave(); // out of the registry before draining
    await server.close();
    await set.close();
    await Promise.all([dispatcher.close(), probes.close()]);
  }, log);
  const { host, port } = listenAddress(o.listen);
  warnIfExposed(host, security, log, 'batcher');
  await server.listen(port, host);
  reloadOnSighup(security, log);
  log.info({ url: server.url, target: set.description, mode: 'balancer' }, `balancing proxy on ${server.url} for ${set.description}`);
  announcement = await announceServer(o.announce, server.url, log, () => server.close());
}
