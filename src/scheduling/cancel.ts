/**
 * A cheap cancellation token for the request path. Node's AbortSignal is an
 * EventTarget whose listeners cost far more than the rest of a small request
 * (measured: ~16 µs per request for add + remove); this one is a list of callbacks,
 * and makes a real AbortSignal only for code that asks for one (e.g. a remote model
 * that must abort its own upstream call).
 */
export class Cancellation {
  private fns: (() => void)[] | undefined;
  private ac: AbortController | undefined;
  aborted = false;

  /** Runs `fn` when cancelled (at once if already); returns a function that unsubscribes. */
  onCancel(fn: () => void): () => void {
    if (this.aborted) {
      fn();
      return noop;
    }
    this.fns ??= [];
    this.fns.push(fn);
    return () => {
      const i = this.fns?.indexOf(fn) ?? -1;
      if (i >= 0) this.fns?.splice(i, 1);
    };
  }

  cancel(): void {
    if (this.aborted) return;
    this.aborted = true;
    const fns = this.fns ?? [];
    this.fns = undefined;
    for (const f of fns) f();
    this.ac?.abort();
  }

  /** A standard AbortSignal that follows this token (made on first use). */
  get signal(): AbortSignal {
    if (this.ac === undefined) {
      this.ac = new AbortController();
      if (this.aborted) this.ac.abort();
    }
    return this.ac.signal;
  }

  /** A token that follows an AbortSignal (for callers of the library API). */
  static fromSignal(signal: AbortSignal): Cancellation {
    const c = new Cancellation();
    if (signal.aborted) c.cancel();
    else signal.addEventListener('abort', () => c.cancel(), { once: true });
    return c;
  }
}

function noop(): void {}

/** A signal that never aborts, for runs nobody can cancel (merged batches). */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;
