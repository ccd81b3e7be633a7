// The scheduler contract: IPVS upd_dest/schedule/done_service as rebuild/pick/close.
import type { Clock } from "../core/clock.ts";
import type { KeyKind } from "../core/types.ts";
import type { UpstreamPlan } from "../config/schema.ts";
import type { ServerView } from "../upstream/server.ts";

export interface PickContext {
  /** From the route's `key:` (an IP address text for source/destination keys); null for keyless schedulers. */
  readonly key: string | null;
  /** Client source port (sh-port / mh-port); 0 when unknown. */
  readonly port: number;
  /** Servers already tried for this unit: treated as overloaded for this call; null on try 1. */
  readonly exclude: ReadonlySet<ServerView> | null;
}

export interface Scheduler {
  /** The tier's server list (front first) or a weight changed. Rebuild tables here, never in pick(). */
  rebuild(servers: readonly ServerView[]): void;
  /** The server for this unit, or null when none can take it. Never throws, never awaits. */
  pick(ctx: PickContext): ServerView | null;
  /** Pool removed or replaced: drop timers and tables. */
  close(): void;
}

export interface SchedulerOptions {
  readonly clock: Clock;
  /** Injectable randomness for twos: a uint32 per call. */
  readonly random32: () => number;
}

export interface SchedulerFactory {
  /** The config keyword: "wlc". */
  readonly name: string;
  /** Key used when a route gives none: "source" for sh/mh, "destination" for dh/lblc/lblcr, null if unused. */
  readonly defaultKey: KeyKind | null;
  create(upstream: UpstreamPlan, opts: SchedulerOptions): Scheduler;
}
