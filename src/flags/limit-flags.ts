import { DEFAULT_DRAIN_TIMEOUT_MS } from '../server/http-server.js';
import { DEFAULT_SERVER_LIMITS as D, type ServerLimits } from '../server/server-limits.js';
import { type Flag, type FlagValues, flagGroup } from './table.js';

/** The HTTP server limit flags `serve` and `batcher` share (see src/server/server-limits.ts). */
export const LIMIT_FLAGS = {
  'headers-timeout': {
    type: 'int',
    value: 'MS',
    help: "time to send a request's headers (slowloris)",
    defaultNote: String(D.headersTimeoutMs),
  },
  'receive-timeout': {
    type: 'int',
    value: 'MS',
    help: 'time to send a whole request, headers and body (0: none)',
    defaultNote: String(D.requestTimeoutMs),
  },
  'body-idle-timeout': {
    type: 'int',
    value: 'MS',
    help: 'longest pause inside a request body; 408',
    defaultNote: String(D.bodyIdleTimeoutMs),
  },
  'keep-alive-timeout': {
    type: 'int',
    value: 'MS',
    help: 'idle keep-alive connections are closed after',
    defaultNote: String(D.keepAliveTimeoutMs),
  },
  'max-connections': { type: 'int', help: 'open connections; more are answered 503 and closed', defaultNote: String(D.maxConnections) },
  'max-in-flight-per-connection': {
    type: 'int',
    help: 'pipelined requests in progress on one connection; more get 429',
    defaultNote: String(D.maxInFlightPerConnection),
  },
  'client-max-in-flight': {
    type: 'int',
    help: 'requests in progress per client address; more get 429 + Retry-After (behind a proxy every client shares its address)',
    defaultNote: '0: off',
  },
  'body-memory': {
    type: 'bytes',
    help: 'memory held by unfinished request bodies, all together; beyond it 503',
    defaultNote: '1GiB',
  },
  'drain-timeout': {
    type: 'int',
    value: 'MS',
    help: 'on SIGTERM, how long in-flight requests may finish before they are answered 503 MP_ERR_DRAIN_TIMEOUT (0 waits for all)',
    defaultNote: String(DEFAULT_DRAIN_TIMEOUT_MS),
  },
} as const satisfies Record<string, Flag>;

export const LIMIT_GROUP = flagGroup(LIMIT_FLAGS, 'HTTP server limits (a client past one is refused with a code, never dropped silently):');

/** Only the limits the flags set; the server fills in the rest from its defaults. */
export function limitsFromFlags(v: FlagValues<typeof LIMIT_FLAGS>): { limits: Partial<ServerLimits>; drainTimeoutMs?: number } {
  const limits: Partial<ServerLimits> = {};
  const set = <K extends keyof ServerLimits>(k: K, n: number | undefined): void => {
    if (n !== undefined) limits[k] = n;
  };
  set('headersTimeoutMs', v['headers-timeout']);
  set('requestTimeoutMs', v['receive-timeout']);
  set('bodyIdleTimeoutMs', v['body-idle-timeout']);
  set('keepAliveTimeoutMs', v['keep-alive-timeout']);
  set('maxConnections', v['max-connections']);
  set('maxInFlightPerConnection', v['max-in-flight-per-connection']);
  set('maxInFlightPerClient', v['client-max-in-flight']);
  set('bodyMemoryBytes', v['body-memory']);
  const drain = v['drain-timeout'];
  return drain === undefined ? { limits } : { limits, drainTimeoutMs: drain };
}
