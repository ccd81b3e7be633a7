// One coarse interval timer for many deadlines (upstream connect/idle, client header/idle/linger): no
// timer per request or per connection. It runs only while something is tracked, and never keeps the
// process alive.
//
// The tracked items sit in a plain array, each knowing its own slot: add and delete are a store or a
// swap with the last item, and the array's storage is only ever grown, never replaced while in use.
// (A JS Set was here first. Under add/delete churn of one item per request V8 rebuilds a Set's hash
// table every few adds, and an outgrown table keeps pointing at its successor and at its old entries.
// Once one table had been promoted to the old generation, a dead old table kept every younger table,
// and through them every request object ever added, alive across scavenges: after a wrk -c256 run,
// 100 B c=50 promoted 460 KB per scavenge instead of 1 KB, with a mark-compact every 0.3 s, for as long
// as the process lived.)

export interface Expiring {
  /** When to call expired(): a performance.now() time; 0 = no deadline now. */
  deadline: number;
  /** The item's slot in its DeadlineSweep (-1: not tracked); only DeadlineSweep writes it. */
  sweepSlot: number;
  /** Called once its deadline has passed; must leave `deadline` at 0 or later than `now`, or delete the item. */
  expired(now: number): void;
}

export class DeadlineSweep<T extends Expiring> {
  /** Slots 0 .. #count-1 hold the tracked items; the rest are undefined. */
  readonly #items: (T | undefined)[] = [];
  #count = 0;
  readonly #tickMs: number;
  #timer: NodeJS.Timeout | null = null;

  constructor(tickMs: number) {
    this.#tickMs = tickMs;
  }

  get size(): number { return this.#count; }

  add(x: T): void {
    if (x.sweepSlot >= 0) return;
    const i = this.#count++;
    x.sweepSlot = i;
    if (i < this.#items.length) this.#items[i] = x;
    else this.#items.push(x);
    if (this.#timer === null) {
      this.#timer = setInterval(this.#tick, this.#tickMs);
      this.#timer.unref();
    }
  }

  delete(x: T): void {
    const i = x.sweepSlot;
    if (i < 0 || this.#items[i] !== x) return;
    x.sweepSlot = -1;
    const last = --this.#count;
    const moved = this.#items[last] as T;
    this.#items[last] = undefined;
    if (moved !== x) {
      this.#items[i] = moved;
      moved.sweepSlot = i;
    }
  }

  readonly #tick = (): void => {
    const now = performance.now();
    // from the end: an expired() that deletes items moves already visited ones into their slots, and
    // slots past the count read undefined. An item met twice in one tick does not fire twice: its
    // expired() already left its deadline at 0 or later than now.
    for (let i = this.#count - 1; i >= 0; i--) {
      const x = this.#items[i];
      if (x !== undefined && x.deadline > 0 && now >= x.deadline) x.expired(now);
    }
    if (this.#count === 0 && this.#timer !== null) { clearInterval(this.#timer); this.#timer = null; }
  };
}
