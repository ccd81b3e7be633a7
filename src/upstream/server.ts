// Server: one upstream address with its weights, counters and state flags.
// Schedulers read it only through ServerView; the pool and health code write it.
//
// Layout for pick speed (issue 3: under 1 µs per pick at 300 servers). What the walking schedulers read for
// every server on every pick (active, overhead, the overloaded flag) is also kept in process-wide typed arrays
// (`hot`), one slot per Server, written by Server's setters, so every other reader and writer is unchanged. A
// scheduler whose list holds only Servers (slotsOf) walks those arrays in a loop with no call and no object in
// it: about 1.2 ns per server here against 3 to 4 for the same walk over the objects.
// `overloaded` and `available` are stored, recomputed by the setters of their inputs (flags,
// thresholdOverloaded, listed); every change bumps `hot.epoch`, so a scheduler may keep what it derived from
// them (twos: the eligible weight total) until the epoch moves.
import { DOWN_MASK, verdict, type ServerState } from "./flags.ts";

/** What a scheduler may read, never write. */
export interface ServerView {
  /** Position in the pool's tier list (config order, runtime adds at the front). */
  readonly index: number;
  /** "host:port" as configured; identity for state carried across reloads. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** Effective integer weight (slow start, drain = 0); 0 = quiesced, never picked. */
  readonly weight: number;
  /** Most recent non-zero weight (only mh reads it). */
  readonly lastWeight: number;
  /** Units in flight now. */
  readonly active: number;
  /** Units finished within inactive_linger (IPVS "inactive"). */
  readonly inactive: number;
  /** max_conns flag (schedulers.md 1.6) OR health-down: every scheduler skips it. */
  readonly overloaded: boolean;
  /** In the list and not health-down (the lblc cached path checks this, not `overloaded`). */
  readonly available: boolean;
}

/** overhead = active * 256 + inactive (schedulers.md 1.4). */
export function overhead(s: ServerView): number {
  return s.active * 256 + s.inactive;
}

/**
 * Every Server's active count, overhead and overloaded flag by slot, and the eligibility epoch. Read the arrays
 * through this object on each pick (they are replaced when they grow); a slot's values mean something only while
 * its Server lives. Int32: counts are far below 2^31 (overhead too while active < 2^23).
 */
export const hot = {
  active: new Int32Array(64),
  /** active * 256 + inactive (overhead()), kept by the setters of both. */
  overhead: new Int32Array(64),
  /** 1 while the Server is overloaded (threshold flag or health-down), else 0. */
  overloaded: new Uint8Array(64),
  /** Bumped whenever any Server's `overloaded` or `available` changes. */
  epoch: 0,
};

let slotsUsed = 0;
const freeSlots: number[] = [];
// a collected Server's slot is reused (servers come and go with reloads, DNS discovery and the admin API)
const reclaim = new FinalizationRegistry<number>((slot) => { freeSlots.push(slot); });

function takeSlot(): number {
  const free = freeSlots.pop();
  if (free !== undefined) return free;
  if (slotsUsed === hot.active.length) {
    const grow = (a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => { const b = new Int32Array(a.length * 2); b.set(a); return b; };
    hot.active = grow(hot.active);
    hot.overhead = grow(hot.overhead);
    const o = new Uint8Array(hot.overloaded.length * 2);
    o.set(hot.overloaded);
    hot.overloaded = o;
  }
  return slotsUsed++;
}

/**
 * The slots of `servers` in list order when every one is a Server (the fast path of the walking schedulers),
 * or null when any is another ServerView (test fakes): then read the objects.
 */
export function slotsOf(servers: readonly ServerView[]): Int32Array | null {
  const out = new Int32Array(servers.length);
  for (let i = 0; i < servers.length; i++) {
    const s = servers[i];
    if (!(s instanceof Server)) return null;
    out[i] = s.slot;
  }
  return out;
}

export class Server implements ServerView {
  /** This server's index into the `hot` arrays, for its whole life. */
  readonly slot: number;
  index = 0;
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** Weight from the config or the admin API. */
  configWeight: number;
  /** Effective weight seen by schedulers (the pool sets it, then rebuilds its schedulers). */
  weight: number;
  lastWeight: number;
  /** max_conns (IPVS upper threshold); 0 = none. */
  upper: number;
  backup: boolean;
  /** Units ever started (requests or sessions). */
  total = 0;
  /** Failures counted by passive health or failed connects, ever. */
  failures = 0;
  /** Time of the last up transition (slow start), -1 = never went down. */
  upSince = -1;
  /** Last health check result text, for status and the API. */
  lastCheck: string | null = null;
  /** Recent state changes, newest last (bounded). */
  readonly history: { at: number; state: ServerState; reason: string }[] = [];
  // active and inactive live here for readers of the object and, through the setters, in `hot`
  #active = 0;
  #inactive = 0;
  #thresholdOverloaded = false;
  #flags = 0;
  #listed = true;
  #overloaded = false;
  #available = true;

  constructor(address: string, host: string, port: number, weight: number, upper: number, backup: boolean) {
    this.slot = takeSlot();
    reclaim.register(this, this.slot);
    this.address = address;
    this.host = host;
    this.port = port;
    this.configWeight = weight;
    this.weight = weight;
    this.lastWeight = weight;
    this.upper = upper;
    this.backup = backup;
    hot.active[this.slot] = 0;
    hot.overhead[this.slot] = 0;
    hot.overloaded[this.slot] = 0;
  }

  /** Units in flight now. */
  get active(): number { return this.#active; }
  set active(n: number) {
    this.#active = n;
    hot.active[this.slot] = n;
    hot.overhead[this.slot] = n * 256 + this.#inactive;
  }
  /** Units finished within inactive_linger. */
  get inactive(): number { return this.#inactive; }
  set inactive(n: number) {
    this.#inactive = n;
    hot.overhead[this.slot] = this.#active * 256 + n;
  }

  /** The threshold OVERLOAD flag alone. */
  get thresholdOverloaded(): boolean { return this.#thresholdOverloaded; }
  set thresholdOverloaded(on: boolean) { this.#thresholdOverloaded = on; this.#refresh(); }
  /** FAILED_ACTIVE | FAILED_PASSIVE | ADMIN_DOWN | ADMIN_DRAIN */
  get flags(): number { return this.#flags; }
  set flags(f: number) { this.#flags = f; this.#refresh(); }
  /** Still in its pool's list (false once removed by reload or the admin API). */
  get listed(): boolean { return this.#listed; }
  set listed(on: boolean) { this.#listed = on; this.#refresh(); }

  get state(): ServerState { return verdict(this.#flags); }
  /** thresholdOverloaded OR health-down (stored: schedulers read it on every pick). */
  get overloaded(): boolean { return this.#overloaded; }
  /** listed AND not health-down (stored). */
  get available(): boolean { return this.#available; }

  #refresh(): void {
    const down = (this.#flags & DOWN_MASK) !== 0;
    const overloaded = this.#thresholdOverloaded || down;
    const available = this.#listed && !down;
    if (overloaded === this.#overloaded && available === this.#available) return;
    this.#overloaded = overloaded;
    this.#available = available;
    hot.overloaded[this.slot] = overloaded ? 1 : 0;
    hot.epoch++;
  }
}
