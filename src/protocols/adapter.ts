// The protocol adapter contract: a listener hands each accepted client socket to its protocol's handler.
import type { Socket } from "node:net";
import type { KeyKind, ProtocolName } from "../core/types.ts";
import type { ListenerPlan } from "../config/schema.ts";
import type { RouteTable } from "../core/route.ts";
import type { Logger } from "../observability/logger.ts";
import type { ListenerStats } from "../observability/metrics.ts";

/** What a handler reads at session start; the runtime swaps it on reload (each session keeps the one it began with). */
export interface ListenerState {
  readonly plan: ListenerPlan;
  readonly routes: RouteTable;
}

export interface ListenerContext {
  /** The current config of this listener; read once per session/request. */
  current(): ListenerState;
  /** The listener's child logger (built at load). */
  readonly log: Logger;
  /** Access line format, or null when access logging is off (log.access). */
  accessLog(): "json" | "combined" | null;
  /** True once a graceful stop or a removal by reload began: finish, take no new work. */
  draining(): boolean;
  /** The listener's counters (made once per listener name; HTTP: one stats.request() per request). */
  readonly stats: ListenerStats;
}

export interface ProtocolHandler {
  /** Owns one accepted client socket for its whole life. Never throws. */
  serve(client: Socket): void;
  /** Graceful stop began: stop starting new work (HTTP: Connection: close; idle sessions may be closed). */
  drain(): void;
  /** Deadline reached: send each open session its protocol's goodbye where safe, then close. */
  forceClose(): void;
}

export interface ProtocolAdapter {
  /** Config keyword. */
  readonly protocol: ProtocolName;
  /** Keys this protocol can produce; validate.ts rejects others at load. */
  readonly keys: readonly ("source" | "destination" | "host" | "path" | "uri" | "user" | "rcpt_domain" | "header:" | "cookie:" | "query:")[];
  create(ctx: ListenerContext): ProtocolHandler;
}

export type { KeyKind };
