import { ModelpipeError } from '../errors/index.js';

/**
 * Runs `fn` over `items` with at most `limit` calls in flight, results in input order.
 * Hand-rolled (a dozen lines) rather than a dependency; `fn` is expected to settle,
 * errors included, so the pool never stops early: callers that want fail-fast
 * make `fn` bail out cheaply once a shared signal is aborted.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Reads an optional integer option (>= min), throwing MP_ERR_BAD_CONFIG with the option's name. */
export function intOption(name: string, value: number | undefined, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min)
    throw new ModelpipeError('MP_ERR_BAD_CONFIG', `${name} must be an integer >= ${min}, got ${String(value)}`);
  return v;
}
