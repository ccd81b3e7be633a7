// Health check registry: config keyword -> factory. Adding a check = one file + one line here;
// config validation, `-t` and the conformance suite read this table. "none" means no active
// checks: it has no factory, and the runner leaves such servers up.
import type { HealthType } from "../config/schema.ts";
import type { HealthCheckFactory } from "./check.ts";
import { http } from "./http.ts";
import { imap } from "./imap.ts";
import { mysql } from "./mysql.ts";
import { pop3 } from "./pop3.ts";
import { smtp } from "./smtp.ts";
import { tcp } from "./tcp.ts";

export const healthChecks = {
  tcp,
  http,
  mysql,
  smtp,
  pop3,
  imap,
} as const satisfies { readonly [K in Exclude<HealthType, "none">]: HealthCheckFactory & { readonly type: K } };

export type CheckType = keyof typeof healthChecks;

/** Every valid `health.type` keyword, "none" first. */
export const healthTypeNames: readonly HealthType[] = ["none", ...(Object.keys(healthChecks) as CheckType[])];

/** The factory for type; null for "none" and for unknown names (validation rejects those first). */
export function getHealthCheck(type: string): HealthCheckFactory | null {
  return Object.hasOwn(healthChecks, type) ? healthChecks[type as CheckType] : null;
}
