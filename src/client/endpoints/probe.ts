import type { HttpTransport } from '../http-transport.js';
import type { ClientSecurity } from '../security.js';
import type { Probe } from './health.js';

/** scheme://host:port of an endpoint URL (probes ask the server, not the model's path). */
export function originOf(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]+)/i.exec(url);
  return m ? (m[1] as string) : url;
}

/**
 * Readiness over HTTP: GET /health/ready on the endpoint's origin (modelpipe, and
 * OIP servers under /v2 answer it too); a server that answers 404 there is asked
 * /control/is_ready, as graphpipe-go serves it. 200 is ready, any other answer not.
 */
export function httpProbe(http: HttpTransport, security: () => ClientSecurity): Probe {
  return async (url, timeoutMs) => {
    const origin = originOf(url);
    const ask = (path: string) => http.send(`${origin}${path}`, 'GET', security(), undefined, { timeoutMs });
    let res = await ask('/health/ready');
    if (res.status === 404) res = await ask('/control/is_ready');
    return res.status === 200;
  };
}
