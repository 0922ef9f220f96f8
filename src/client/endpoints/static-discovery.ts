import { ModelpipeError } from '../../errors/index.js';
import type { Discovery } from './discovery.js';

/** Splits `a,b,c` into trimmed URLs without duplicates; commas never occur inside our endpoint URLs. */
export function splitEndpointList(target: string): string[] {
  const urls = [
    ...new Set(
      target
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    ),
  ];
  if (urls.length === 0) throw new ModelpipeError('MP_ERR_BAD_CONFIG', `no endpoint URL in ${JSON.stringify(target)}`);
  return urls;
}

/** A fixed list of endpoints (one URL, or several separated by commas). */
export class StaticDiscovery implements Discovery {
  readonly description: string;
  readonly #urls: readonly string[];

  constructor(target: string) {
    this.#urls = splitEndpointList(target);
    this.description = this.#urls.join(',');
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  current(): readonly string[] {
    return this.#urls;
  }

  subscribe(): () => void {
    // A fixed list never changes, so there is nothing to tell a listener.
    return () => {};
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
