/**
 * Memory held by request bodies that are still arriving, all requests together.
 * Why: a client can announce a 64 MiB message and then stall; if every such call
 * held what it announced, a few hundred of them would pin gigabytes. Readers take
 * what they actually hold from one budget, give it back when the body is complete
 * or abandoned, and refuse the request when the budget is spent.
 */
export class BodyBudget {
  private heldBytes = 0;

  constructor(readonly limit: number) {}

  /** Bytes held now by unfinished bodies. */
  get held(): number {
    return this.heldBytes;
  }

  /** Takes `n` bytes; false, taking nothing, when that would pass the limit. */
  take(n: number): boolean {
    if (this.heldBytes + n > this.limit) return false;
    this.heldBytes += n;
    return true;
  }

  release(n: number): void {
    this.heldBytes = Math.max(0, this.heldBytes - n);
  }
}
