// Server state as independent cause bits; the verdict up/down/drain is derived here and nowhere else.

export const FAILED_ACTIVE = 1;   // active health check says down
export const FAILED_PASSIVE = 2;  // passive: max_fails within fail_timeout
export const ADMIN_DOWN = 4;      // admin API / status page: state down
export const ADMIN_DRAIN = 8;     // admin API / status page, or removed by reload: no new work

export type ServerState = "up" | "down" | "drain";

/** Any of these bits makes a server down. */
export const DOWN_MASK = FAILED_ACTIVE | FAILED_PASSIVE | ADMIN_DOWN;

/** down wins over drain; anything failing or admin-down is down. */
export function verdict(flags: number): ServerState {
  if ((flags & DOWN_MASK) !== 0) return "down";
  if ((flags & ADMIN_DRAIN) !== 0) return "drain";
  return "up";
}

export function describeFlags(flags: number): string[] {
  const out: string[] = [];
  if (flags & FAILED_ACTIVE) out.push("health-check");
  if (flags & FAILED_PASSIVE) out.push("passive");
  if (flags & ADMIN_DOWN) out.push("admin-down");
  if (flags & ADMIN_DRAIN) out.push("drain");
  return out;
}
