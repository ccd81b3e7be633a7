// The observer hooks: every node:diagnostics_channel channel switchyard publishes on, in one table
// (undici's diagnostics.js, fastify's tracingChannel). Publishers test `hasSubscribers` first, so a
// channel nobody listens to costs one property read; metrics, tests and outside tools subscribe.
//
// | channel                         | published by             | message                                  |
// | ------------------------------- | ------------------------ | ---------------------------------------- |
// | switchyard:upstream:pick        | Pool.acquire/acquireServer | PickMessage: a unit was given a server |
// | switchyard:server:state         | Pool.setFlag             | ServerStateMessage: a verdict changed    |
// | switchyard:health:transition    | health/runner.ts         | { server, type, up, reason, result, watchers } |
//
// Messages hold the live objects (no copies): a subscriber must read what it needs at once and keep
// nothing (a Server outlives reloads, a Pool does not).
import { channel } from "node:diagnostics_channel";
import type { PickContext } from "../schedulers/scheduler.ts";
import type { ServerState } from "../upstream/flags.ts";

/** How a server was chosen: by the scheduler, a persistence template, or the sticky cookie. */
export type PickVia = "scheduler" | "persistence" | "sticky-cookie";

/** The pool and server as a subscriber sees them (structural: no import cycle with upstream/pool.ts). */
export interface ObservedPool {
  readonly name: string;
}
export interface ObservedServer {
  readonly address: string;
}

export interface PickMessage {
  readonly pool: ObservedPool;
  readonly server: ObservedServer;
  readonly ctx: PickContext;
  readonly clientIp: string | null;
  readonly via: PickVia;
}

export interface ServerStateMessage {
  readonly pool: ObservedPool;
  readonly server: ObservedServer;
  readonly from: ServerState;
  readonly to: ServerState;
  /** The cause bit that was set or cleared (upstream/flags.ts). */
  readonly flag: number;
  /** True when the bit was set. */
  readonly on: boolean;
  readonly reason: string;
}

export const pickChannel = channel("switchyard:upstream:pick");
export const serverStateChannel = channel("switchyard:server:state");
/** Defined (and published) in health/runner.ts; listed here so the table is complete. */
export const healthTransitionChannel = channel("switchyard:health:transition");
