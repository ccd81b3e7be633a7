// sh: source hashing (IPVS ip_vs_sh, schedulers.md 2.13; flags sh-fallback, sh-port).
// Table: 256 buckets; walking the list, each server takes `weight` consecutive buckets (a weight-0 server takes
// one per round), wrapping to the front until all are filled; no gcd reduction, no normalisation (A=200,
// B=100 -> 200 A, 56 B). Rebuilt on every rebuild() (any add, removal or weight edit).
// Bucket h(o) = (o + hash_32((key32 + port) mod 2^32, 8)) & 255, port = the client port with sh-port, else 0.
//  * plain: bucket h(0); its server must have weight > 0 and not be overloaded (or tried), else null;
//  * sh-fallback: probe o = 0..255 at bucket (2 * h(0) + o) & 255 (h applied to o + h(0)); first usable wins.
import type { PickContext, Scheduler, SchedulerFactory } from "./scheduler.ts";
import type { ServerView } from "../upstream/server.ts";
import { bucket8, key32 } from "./hash.ts";
import { usable } from "./eligible.ts";

export const SH_BUCKETS = 256;

/** The sh table for a list (front first): 256 entries, or an empty array when the list is empty. */
export function buildShTable(servers: readonly ServerView[]): ServerView[] {
  const n = servers.length;
  const table: ServerView[] = [];
  if (n === 0) return table;
  let p = 0;
  let taken = 0;
  for (let i = 0; i < SH_BUCKETS; i++) {
    const s = servers[p];
    table.push(s);
    taken++;
    if (taken >= s.weight) {
      p = p + 1 === n ? 0 : p + 1;
      taken = 0;
    }
  }
  return table;
}

class SourceHashing implements Scheduler {
  #table: ServerView[] = [];
  readonly #fallback: boolean;
  readonly #usePort: boolean;

  constructor(fallback: boolean, usePort: boolean) {
    this.#fallback = fallback;
    this.#usePort = usePort;
  }

  rebuild(servers: readonly ServerView[]): void {
    this.#table = buildShTable(servers);
  }

  pick(ctx: PickContext): ServerView | null {
    const table = this.#table;
    if (table.length === 0) return null;
    const ex = ctx.exclude;
    const word = this.#usePort ? (key32(ctx.key) + ctx.port) >>> 0 : key32(ctx.key);
    const h0 = bucket8(word);
    const s = table[h0];
    if (usable(s, ex)) return s;
    if (!this.#fallback) return null;
    for (let o = 0; o < SH_BUCKETS; o++) {
      const t = table[(2 * h0 + o) & 255];
      if (usable(t, ex)) return t;
    }
    return null;
  }

  close(): void {
    this.#table = [];
  }
}

export const sh: SchedulerFactory = {
  name: "sh",
  defaultKey: "source",
  create: (upstream) =>
    new SourceHashing(upstream.schedFlags.includes("sh-fallback"), upstream.schedFlags.includes("sh-port")),
};
