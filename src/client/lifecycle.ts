import { RemoteError } from './errors.js';

/**
 * A client's open/closed state: close() is idempotent (every caller gets the same
 * promise), and a call made after it fails with MP_ERR_CLIENT_CLOSED instead of
 * quietly opening a new connection the owner believes released.
 */
export class Lifecycle {
  #closing: Promise<void> | undefined;

  constructor(private readonly url: string) {}

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Throws when the client was closed. */
  check(): void {
    if (this.#closing) throw new RemoteError('MP_ERR_CLIENT_CLOSED', `${this.url}: the client is closed`, { url: this.url });
  }

  close(release: () => Promise<void>): Promise<void> {
    this.#closing ??= release();
    return this.#closing;
  }
}
