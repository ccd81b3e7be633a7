// dh: destination hashing (IPVS ip_vs_dh, schedulers.md 2.12). A static 256-bucket table: bucket i holds
// server i mod n in list order, weights ignored (so a quiesced server keeps its buckets). Lookup: bucket =
// hash_32(key32(key), 8); the server there is used only if available, weight > 0, not overloaded and not tried
// already, else null. No fallback: this is a static map, and a rebuild after add/remove remaps wholesale.
import type { PickContext, Scheduler, SchedulerFactory } from "./scheduler.ts";
import type { ServerView } from "../upstream/server.ts";
import { bucket8, key32 } from "./hash.ts";
import { usable } from "./eligible.ts";

export const DH_BUCKETS = 256;

/** The dh table for a list (front first): 256 entries, or an empty array when the list is empty. */
export function buildDhTable(servers: readonly ServerView[]): ServerView[] {
  const n = servers.length;
  const table: ServerView[] = [];
  if (n === 0) return table;
  for (let i = 0; i < DH_BUCKETS; i++) table.push(servers[i % n]);
  return table;
}

class DestinationHashing implements Scheduler {
  #table: ServerView[] = [];

  rebuild(servers: readonly ServerView[]): void {
    this.#table = buildDhTable(servers);
  }

  pick(ctx: PickContext): ServerView | null {
    const table = this.#table;
    if (table.length === 0) return null;
    const s = table[bucket8(key32(ctx.key))];
    return s.available && usable(s, ctx.exclude) ? s : null;
  }

  close(): void {
    this.#table = [];
  }
}

export const dh: SchedulerFactory = {
  name: "dh",
  defaultKey: "destination",
  create: () => new DestinationHashing(),
};
