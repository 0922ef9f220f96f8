import type { CallLimits, EndpointSetOptions, TryFn } from './endpoint-set.js';
import { EndpointSet } from './endpoint-set.js';
import { isDiscoveryUrl } from './schemes.js';
import { splitEndpointList } from './static-discovery.js';

/** Where a client's calls go: one URL, or a set of endpoints with balancing and failover. */
export interface Route {
  /** The target as given (one URL, a list, a discovery URL). */
  readonly description: string;
  call<T>(fn: TryFn<T>, limits: CallLimits): Promise<T>;
  close(): Promise<void>;
}

/** The settings of a client's endpoint set that a caller may choose (the probe is the client's). */
export type EndpointOptions = Pick<EndpointSetOptions, 'balance' | 'health' | 'retryBudget' | 'discovery'>;

/**
 * One plain URL: every call goes straight to it, as before endpoint sets existed
 * (no probes, no retries, the transport's own errors).
 */
export class SingleEndpoint implements Route {
  constructor(readonly description: string) {}

  call<T>(fn: TryFn<T>, limits: CallLimits): Promise<T> {
    const ms = limits.timeoutMs ?? (limits.deadline ?? Number.POSITIVE_INFINITY) - Date.now();
    return fn(this.description, ms);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Whether `target` is more than one plain URL: a comma-separated list or a discovery URL. */
export function isEndpointSetTarget(target: string): boolean {
  return isDiscoveryUrl(target) || target.includes(',');
}

/** The route for a target string: a SingleEndpoint for one plain URL, else an EndpointSet. */
export function routeFor(target: string, opts: EndpointSetOptions = {}): Route {
  return isEndpointSetTarget(target) ? new EndpointSet(target, opts) : new SingleEndpoint(target);
}

/** Whether a target's endpoint URLs all match `scheme` (a discovery URL: its endpoints are checked as they come). */
export function endpointsMatch(target: string, scheme: RegExp): boolean {
  if (isDiscoveryUrl(target)) return true;
  try {
    return splitEndpointList(target).every((u) => scheme.test(u));
  } catch {
    return false;
  }
}
