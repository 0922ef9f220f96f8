/**
 * How many retries a set may send: at most `ratio` of its requests over a sliding
 * window, plus a floor of `minPerSecond` retries per second of the window, so a
 * client that sends little can still fail over while one under load cannot turn a
 * sick fleet into a retry storm (the gRPC and Finagle retry budgets work so).
 * Defaults: 10 % over 10 s, floor 1 retry per second (10 per window).
 */
export interface RetryBudgetOptions {
  ratio?: number | undefined;
  windowMs?: number | undefined;
  minPerSecond?: number | undefined;
}

const SLOTS = 10;

export class RetryBudget {
  readonly ratio: number;
  readonly windowMs: number;
  readonly minPerSecond: number;
  /** Requests and retries per slot of windowMs/SLOTS, as a ring. */
  readonly #requests = new Array<number>(SLOTS).fill(0);
  readonly #retries = new Array<number>(SLOTS).fill(0);
  #slot = 0;
  #slotStart = 0;

  constructor(
    opts: RetryBudgetOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.ratio = opts.ratio ?? 0.1;
    this.windowMs = opts.windowMs ?? 10_000;
    this.minPerSecond = opts.minPerSecond ?? 1;
    this.#slotStart = now();
  }

  /** Counts a first try. */
  request(): void {
    this.#advance();
    this.#requests[this.#slot] = (this.#requests[this.#slot] ?? 0) + 1;
  }

  /** Takes a retry from the budget; false when it is spent. */
  tryRetry(): boolean {
    this.#advance();
    const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
    const allowed = this.ratio * sum(this.#requests) + (this.minPerSecond * this.windowMs) / 1000;
    if (sum(this.#retries) + 1 > allowed) return false;
    this.#retries[this.#slot] = (this.#retries[this.#slot] ?? 0) + 1;
    return true;
  }

  #advance(): void {
    const width = this.windowMs / SLOTS;
    const t = this.now();
    let steps = Math.floor((t - this.#slotStart) / width);
    if (steps <= 0) return;
    this.#slotStart += steps * width;
    steps = Math.min(steps, SLOTS);
    for (let i = 0; i < steps; i++) {
      this.#slot = (this.#slot + 1) % SLOTS;
      this.#requests[this.#slot] = 0;
      this.#retries[this.#slot] = 0;
    }
  }
}
