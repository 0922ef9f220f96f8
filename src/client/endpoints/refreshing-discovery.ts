import { ModelpipeError } from '../../errors/index.js';
import { type Logger, createLogger } from '../../observe/logger.js';
import type { Discovery } from './discovery.js';

/** One reading of a source: the endpoints now, and when to read again. */
export interface Reading {
  urls: readonly string[];
  /** Milliseconds until the next reading (a DNS answer's TTL, a stated interval). */
  nextMs: number;
}

/** After a failed reading, the next try waits this long, doubling up to the cap: a source that is down is not hammered. */
const RETRY_FIRST_MS = 500;
const RETRY_CAP_MS = 5_000;

/**
 * What every changing source shares (DNS, SRV, a Redis registry): read the source,
 * keep the list, tell subscribers when it changes, read again when the reading says,
 * and keep the last good list through failures (logged once when the source starts
 * failing and once when it answers again, not at every retry).
 */
export abstract class RefreshingDiscovery implements Discovery {
  readonly description: string;
  #urls: readonly string[] = [];
  readonly #listeners = new Set<(urls: readonly string[]) => void>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #reading = false;
  #again = false;
  #failures = 0;
  #nextMs = 0;
  #ready: Promise<void> | undefined;
  protected readonly log: Logger;

  protected constructor(description: string, log: Logger | undefined) {
    this.description = description;
    this.log = log ?? createLogger();
  }

  /** Reads the source once; throws when it cannot be read. */
  protected abstract read(): Promise<Reading>;

  /** Releases what the source holds open (connections); called once by close(). */
  protected async release(): Promise<void> {}

  /** Reading starts here (the first call), not in the constructor, so a subclass is whole before read() runs. */
  ready(): Promise<void> {
    if (this.#ready === undefined) {
      this.#ready = this.#first();
      // The caller sees the rejection; this only keeps an ignored one from being unhandled.
      this.#ready.catch(() => {});
    }
    return this.#ready;
  }

  current(): readonly string[] {
    return this.#urls;
  }

  subscribe(listener: (urls: readonly string[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#listeners.clear();
    await this.release();
  }

  protected get closed(): boolean {
    return this.#closed;
  }

  /** Reads again now (a notification said the list changed); a reading under way is followed by one more. */
  protected refreshNow(): void {
    if (this.#closed || this.#ready === undefined) return;
    if (this.#reading) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    void this.#tick();
  }

  async #first(): Promise<void> {
    this.#reading = true;
    try {
      this.#accept(await this.read());
    } catch (err: unknown) {
      this.#reading = false;
      // Not reachable at all: say so now, but keep trying, so a set built anyway fills up once the source answers.
      this.#retryLater(err, false);
      throw err instanceof ModelpipeError && err.code === 'MP_ERR_DISCOVERY'
        ? err
        : new ModelpipeError('MP_ERR_DISCOVERY', `${this.description}: ${(err as Error).message}`);
    }
    this.#reading = false;
    this.#followUp();
  }

  async #tick(): Promise<void> {
    if (this.#closed) return;
    this.#reading = true;
    try {
      this.#accept(await this.read());
      if (this.#failures > 0) this.log.info({ discovery: this.description, urls: this.#urls }, 'discovery answers again');
      this.#failures = 0;
    } catch (err: unknown) {
      this.#reading = false;
      this.#retryLater(err, true);
      return;
    }
    this.#reading = false;
    this.#followUp();
  }

  #accept(r: Reading): void {
    if (this.#closed) return;
    this.#nextMs = r.nextMs;
    const next = [...new Set(r.urls)].sort();
    if (next.length === this.#urls.length && next.every((u, i) => u === this.#urls[i])) return;
    this.#urls = next;
    this.log.debug({ discovery: this.description, urls: next }, 'discovered endpoints changed');
    for (const l of [...this.#listeners]) l(next);
  }

  #followUp(): void {
    if (this.#closed) return;
    if (this.#again) {
      this.#again = false;
      void this.#tick();
      return;
    }
    this.#schedule(this.#nextMs);
  }

  #retryLater(err: unknown, log: boolean): void {
    this.#failures++;
    if (log && this.#failures === 1)
      this.log.warn(
        { discovery: this.description, err: (err as Error).message, kept: this.#urls },
        'discovery failed; keeping the last good list and retrying',
      );
    this.#again = false;
    this.#schedule(Math.min(RETRY_CAP_MS, RETRY_FIRST_MS * 2 ** (this.#failures - 1)));
  }

  #schedule(ms: number): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), ms);
    // A discovery alone must not keep a process alive; the client's sockets do that.
    this.#timer.unref();
  }
}
