import { ModelpipeError } from '../errors/index.js';

/**
 * A global budget for memory held by request bodies that have not finished arriving.
 * A client that declares a large body and then stalls pins that memory for as long as
 * it likes; a hundred of them pinned gigabytes. Every reader reserves bytes before it
 * allocates or buffers them and gives them back once the body is complete (it then
 * belongs to the request, whose queue is bounded) or has failed. Transport-neutral:
 * HTTP/1 bodies and HTTP/2 streams can share one instance.
 */
export class BodyBudget {
  private held = 0;
  private peak = 0;

  /** `limit` bytes in all (0 or Infinity: no limit, but still counted). */
  constructor(readonly limit: number) {}

  /** Bytes reserved right now. */
  get used(): number {
    return this.held;
  }

  /** The most ever reserved at once (for benchmarks and metrics). */
  get highWater(): number {
    return this.peak;
  }

  /** Reserves `n` bytes if they fit; false (nothing reserved) when they do not. */
  tryReserve(n: number): boolean {
    if (n <= 0) return true;
    if (this.limit > 0 && this.held + n > this.limit) return false;
    this.held += n;
    if (this.held > this.peak) this.peak = this.held;
    return true;
  }

  /** Gives back `n` bytes reserved earlier. */
  release(n: number): void {
    if (n <= 0) return;
    this.held -= n;
    if (this.held < 0) throw new ModelpipeError('MP_ERR_INTERNAL', `BodyBudget released more than it reserved (${this.held})`);
  }

  /**
   * A reservation that grows as a body arrives and is released exactly once, however
   * the body ends (complete, too large, aborted): the pattern every reader needs.
   */
  lease(): BodyLease {
    return new BodyLease(this);
  }
}

export class BodyLease {
  private bytes = 0;
  private done = false;

  constructor(private readonly budget: BodyBudget) {}

  get held(): number {
    return this.bytes;
  }

  /** Raises the reservation to `total` bytes; false when the budget cannot give them. */
  growTo(total: number): boolean {
    if (this.done || total <= this.bytes) return true;
    if (!this.budget.tryReserve(total - this.bytes)) return false;
    this.bytes = total;
    return true;
  }

  /** Gives everything back; later calls do nothing. */
  release(): void {
    if (this.done) return;
    this.done = true;
    this.budget.release(this.bytes);
    this.bytes = 0;
  }
}

/** The budget a request's body counts against, set by the server that accepted it. */
const budgets = new WeakMap<object, BodyBudget>();

export function setBodyBudget(req: object, budget: BodyBudget): void {
  budgets.set(req, budget);
}

export function bodyBudgetOf(req: object): BodyBudget | undefined {
  return budgets.get(req);
}
