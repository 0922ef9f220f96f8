import type { Endpoint } from './endpoint.js';

/** How a set chooses among its usable endpoints. */
export type BalancePolicy = 'p2c' | 'round-robin';

export type Balancer = (candidates: readonly Endpoint[]) => Endpoint;

/**
 * Least outstanding requests by the power of two choices: two endpoints at random,
 * the one with fewer calls in flight (Mitzenmacher). Nearly as good as scanning
 * them all, and it does not herd every client onto the one idle replica at once.
 */
function p2c(random: () => number): Balancer {
  return (candidates) => {
    const n = candidates.length;
    if (n === 1) return candidates[0] as Endpoint;
    const i = Math.floor(random() * n);
    const j = (i + 1 + Math.floor(random() * (n - 1))) % n;
    const a = candidates[i] as Endpoint;
    const b = candidates[j] as Endpoint;
    return b.outstanding < a.outstanding ? b : a;
  };
}

/** Each endpoint in turn; the counter runs over calls, so skipped (ejected) endpoints do not skew the rest. */
function roundRobin(): Balancer {
  let next = 0;
  return (candidates) => {
    const e = candidates[next % candidates.length] as Endpoint;
    next = (next + 1) % 1_000_000_007;
    return e;
  };
}

export function balancer(policy: BalancePolicy, random: () => number = Math.random): Balancer {
  return policy === 'round-robin' ? roundRobin() : p2c(random);
}
