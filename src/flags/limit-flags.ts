import { DEFAULT_DRAIN_TIMEOUT_MS } from '../server/http-server.js';
import { DEFAULT_SERVER_LIMITS as D, type ServerLimits } from '../server/server-limits.js';
import { bytes, int } from './args.js';

/** The HTTP server limit flags `serve` and `batcher` share (see src/server/server-limits.ts). */
export const LIMIT_FLAGS = {
  'headers-timeout': { type: 'string' },
  'receive-timeout': { type: 'string' },
  'body-idle-timeout': { type: 'string' },
  'keep-alive-timeout': { type: 'string' },
  'max-connections': { type: 'string' },
  'max-in-flight-per-connection': { type: 'string' },
  'client-max-in-flight': { type: 'string' },
  'body-memory': { type: 'string' },
  'drain-timeout': { type: 'string' },
} as const;

export const LIMIT_HELP = `HTTP server limits (a client past one is refused with a code, never dropped silently):
  --headers-timeout MS      time to send a request's headers (default ${D.headersTimeoutMs}; slowloris)
  --receive-timeout MS      time to send a whole request, headers and body (default ${D.requestTimeoutMs}; 0 none)
  --body-idle-timeout MS    longest pause inside a request body (default ${D.bodyIdleTimeoutMs}); 408
  --keep-alive-timeout MS   idle keep-alive connections are closed after (default ${D.keepAliveTimeoutMs})
  --max-connections N       open connections; more are answered 503 and closed (default ${D.maxConnections})
  --max-in-flight-per-connection N
                            pipelined requests in progress on one connection; more get 429 (default ${D.maxInFlightPerConnection})
  --client-max-in-flight N  requests in progress per client address; more get 429 + Retry-After
                            (default 0: off; behind a proxy every client shares its address)
  --body-memory SIZE        memory held by unfinished request bodies, all together; beyond it 503
                            (default 1GiB)
  --drain-timeout MS        on SIGTERM, how long in-flight requests may finish before they are
                            answered 503 MP_ERR_DRAIN_TIMEOUT (default ${DEFAULT_DRAIN_TIMEOUT_MS}; 0 waits for all)`;

/** Only the limits the flags set; the server fills in the rest from its defaults. */
export function limitsFromFlags(v: Record<string, unknown>): { limits: Partial<ServerLimits>; drainTimeoutMs?: number } {
  const limits: Partial<ServerLimits> = {};
  const set = <K extends keyof ServerLimits>(k: K, n: number | undefined): void => {
    if (n !== undefined) limits[k] = n;
  };
  set('headersTimeoutMs', int(v['headers-timeout'], 'headers-timeout'));
  set('requestTimeoutMs', int(v['receive-timeout'], 'receive-timeout'));
  set('bodyIdleTimeoutMs', int(v['body-idle-timeout'], 'body-idle-timeout'));
  set('keepAliveTimeoutMs', int(v['keep-alive-timeout'], 'keep-alive-timeout'));
  set('maxConnections', int(v['max-connections'], 'max-connections'));
  set('maxInFlightPerConnection', int(v['max-in-flight-per-connection'], 'max-in-flight-per-connection'));
  set('maxInFlightPerClient', int(v['client-max-in-flight'], 'client-max-in-flight'));
  set('bodyMemoryBytes', bytes(v['body-memory'], 'body-memory'));
  const drain = int(v['drain-timeout'], 'drain-timeout');
  return drain === undefined ? { limits } : { limits, drainTimeoutMs: drain };
}
