// The health-check contract: one probe of one server, layered results as HAProxy's HCHK_STATUS_*.
import type { HealthPlan } from "../config/schema.ts";

export interface ProbeTarget {
  readonly host: string;
  readonly port: number;
}

export type ProbeResult =
  | { readonly ok: true; readonly layer: "L4" | "L7"; readonly code: string | null; readonly ms: number }
  | {
      readonly ok: false; readonly layer: "L4" | "L6" | "L7";
      readonly reason: "timeout" | "refused" | "reset" | "bad-response" | "bad-status";
      readonly code: string | null; readonly info: string; readonly ms: number;
    };

export interface HealthCheck {
  /** One probe. Resolves, never rejects; stops and resolves a timeout failure when signal aborts. */
  probe(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult>;
}

export interface HealthCheckFactory {
  /** The config keyword: "imap". */
  readonly type: string;
  create(health: HealthPlan): HealthCheck;
}
