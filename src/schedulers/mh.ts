// mh: Maglev hashing (IPVS ip_vs_mh, schedulers.md 2.14; flags mh-fallback, mh-port). Consistent hashing:
// adding or removing a server moves few keys.
//
// Build (every rebuild): prime table size M (default 4093). g = gcd of lastWeight > 0 (none: empty table);
// shift = max(0, bitLength(floor(maxLastWeight / g)) - 6). Per server: offset = H1(word) mod M, skip =
// H2(word) mod (M - 1) + 1, turns = (lastWeight / g) >> shift, at least 1 when lastWeight != 0, 0 when it is 0.
// Fill in rounds over the list: each server with turns >= 1 claims `turns` slots in a row, each claim walking
// its permutation (next += skip mod M) past taken slots; stop the instant the last slot is taken.
// Built from lastWeight: setting weight 0 does not reshuffle the table; lookups landing there get null (or the
// fallback). Lookup: slot H1((key32 + port) mod 2^32) mod M; the server must have current weight > 0 and not
// be overloaded (or tried). mh-fallback: for o = 0..M-1, slot H1((key32 + port + ((o + first) mod M)) mod
// 2^32) mod M; first usable wins.
// DECISION (2.14): H1/H2 = MurmurHash3 x86 32 of the 4-byte word with seeds 2654435761 / 2654446892; a
// server's word is FNV-1a 32 of its canonical "host:port" (lower-case host, IPv6 in brackets).
import type { PickContext, Scheduler, SchedulerFactory, SchedulerOptions } from "./scheduler.ts";
import type { ServerView } from "../upstream/server.ts";
import type { UpstreamPlan } from "../config/schema.ts";
import { fnv1a32, key32, MH_SEED1, MH_SEED2, murmur3Word } from "./hash.ts";
import { gcd, usable } from "./eligible.ts";

/** Table sizes the kernel build offers; the default is 4093. */
export const MH_TABLE_SIZES = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071] as const;
export const MH_DEFAULT_TABLE_SIZE = 4093;

/** One server's permutation parameters. */
export interface MaglevParams {
  readonly offset: number;
  readonly skip: number;
  readonly turns: number;
}

export interface MhOptions {
  /** Prime table size (default 4093); tests use small primes. */
  readonly tableSize?: number;
  /** Replaces the hashed offset/skip and the weight-derived turns (tests: vector T17). */
  readonly params?: (server: ServerView, index: number, tableSize: number) => MaglevParams;
}

/**
 * Maglev population: params per server in list order -> Int32Array of M server indices (-1 = empty, only when
 * no server has turns >= 1). Pure; T17 tests it directly.
 */
export function populateMaglev(size: number, params: readonly MaglevParams[]): Int32Array {
  const table = new Int32Array(size).fill(-1);
  const n = params.length;
  const next = new Int32Array(n);
  let anyTurns = false;
  for (let i = 0; i < n; i++) {
    next[i] = params[i].offset % size;
    if (params[i].turns >= 1) anyTurns = true;
  }
  if (!anyTurns) return table;
  let filled = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      const p = params[i];
      for (let t = 0; t < p.turns; t++) {
        let c = next[i];
        while (table[c] >= 0) {
          c += p.skip;
          if (c >= size) c -= size;
        }
        table[c] = i;
        c += p.skip;
        next[i] = c >= size ? c - size : c;
        if (++filled === size) return table;
      }
    }
  }
}

/** bitLength(x) for x >= 0: bitLength(1000) = 10, bitLength(0) = 0. */
function bitLength(x: number): number {
  return 32 - Math.clz32(x);
}

/** The server's hash word: FNV-1a of its canonical host:port. */
export function serverWord(s: ServerView): number {
  const host = s.host.toLowerCase();
  return fnv1a32(host.includes(":") ? `[${host}]:${s.port}` : `${host}:${s.port}`);
}

/** Default parameters from the server address and lastWeight (2.14 build steps 1-3). */
export function maglevParams(servers: readonly ServerView[], size: number): MaglevParams[] {
  let g = 0;
  let max = 0;
  for (let i = 0; i < servers.length; i++) {
    const w = servers[i].lastWeight;
    if (w > 0) {
      g = gcd(w, g);
      if (w > max) max = w;
    }
  }
  const shift = g === 0 ? 0 : Math.max(0, bitLength(Math.floor(max / g)) - 6);
  const out: MaglevParams[] = [];
  for (let i = 0; i < servers.length; i++) {
    const s = servers[i];
    const word = serverWord(s);
    const lw = s.lastWeight;
    let turns = 0;
    if (lw > 0 && g > 0) turns = Math.max(1, Math.floor(lw / g) >> shift);
    out.push({ offset: murmur3Word(word, MH_SEED1) % size, skip: (murmur3Word(word, MH_SEED2) % (size - 1)) + 1, turns });
  }
  return out;
}

class MaglevHashing implements Scheduler {
  #servers: readonly ServerView[] = [];
  #slots: Int32Array = new Int32Array(0);
  #filled = false;
  readonly #size: number;
  readonly #fallback: boolean;
  readonly #usePort: boolean;
  readonly #params: MhOptions["params"] | null;

  constructor(size: number, fallback: boolean, usePort: boolean, params: MhOptions["params"] | null) {
    this.#size = size;
    this.#fallback = fallback;
    this.#usePort = usePort;
    this.#params = params;
  }

  /** The table as server indices (-1 = empty), for tests and status. */
  get slots(): Int32Array {
    return this.#slots;
  }

  rebuild(servers: readonly ServerView[]): void {
    const size = this.#size;
    const custom = this.#params;
    let params: MaglevParams[];
    if (custom === null || custom === undefined) {
      params = maglevParams(servers, size);
    } else {
      params = [];
      for (let i = 0; i < servers.length; i++) params.push(custom(servers[i], i, size));
    }
    this.#servers = servers;
    this.#slots = populateMaglev(size, params);
    this.#filled = servers.length > 0 && this.#slots[0] >= 0;
  }

  pick(ctx: PickContext): ServerView | null {
    if (!this.#filled) return null;
    const size = this.#size;
    const slots = this.#slots;
    const list = this.#servers;
    const ex = ctx.exclude;
    const word = this.#usePort ? (key32(ctx.key) + ctx.port) >>> 0 : key32(ctx.key);
    const first = murmur3Word(word, MH_SEED1) % size;
    const s = list[slots[first]];
    if (usable(s, ex)) return s;
    if (!this.#fallback) return null;
    for (let o = 0; o < size; o++) {
      let off = o + first;
      if (off >= size) off -= size;
      const t = list[slots[murmur3Word((word + off) >>> 0, MH_SEED1) % size]];
      if (usable(t, ex)) return t;
    }
    return null;
  }

  close(): void {
    this.#servers = [];
    this.#slots = new Int32Array(0);
    this.#filled = false;
  }
}

/** mh with test overrides (table size, injected offset/skip/turns). */
export function createMh(upstream: UpstreamPlan, _opts: SchedulerOptions, options: MhOptions = {}):
    Scheduler & { readonly slots: Int32Array } {
  const flags = upstream.schedFlags;
  return new MaglevHashing(options.tableSize ?? MH_DEFAULT_TABLE_SIZE, flags.includes("mh-fallback"),
    flags.includes("mh-port"), options.params ?? null);
}

export const mh: SchedulerFactory = {
  name: "mh",
  defaultKey: "source",
  create: (upstream, opts) => createMh(upstream, opts),
};
