// One coarse interval timer for many deadlines (upstream connect/idle, client header/idle/linger): no
// timer per request or per connection. It runs only while something is tracked, and never keeps the
// process alive.

export interface Expiring {
  /** When to call expired(): a performance.now() time; 0 = no deadline now. */
  deadline: number;
  expired(now: number): void;
}

export class DeadlineSweep<T extends Expiring> {
  readonly #items = new Set<T>();
  readonly #tickMs: number;
  #timer: NodeJS.Timeout | null = null;

  constructor(tickMs: number) {
    this.#tickMs = tickMs;
  }

  add(x: T): void {
    this.#items.add(x);
    if (this.#timer === null) {
      this.#timer = setInterval(this.#tick, this.#tickMs);
      this.#timer.unref();
    }
  }

  delete(x: T): void {
    this.#items.delete(x);
  }

  readonly #tick = (): void => {
    const now = performance.now();
    for (const x of this.#items) if (x.deadline > 0 && now >= x.deadline) x.expired(now);
    if (this.#items.size === 0 && this.#timer !== null) { clearInterval(this.#timer); this.#timer = null; }
  };
}
