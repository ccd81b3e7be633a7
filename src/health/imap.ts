// imap: "* OK" (or "* PREAUTH") greeting, then "sy1 LOGOUT": untagged "* BYE" and the tagged
// "sy1 OK" (RFC 9051 6.1.3). A "* BYE" greeting (RFC 9051 7.1.5, e.g. [UNAVAILABLE]) is
// bad-status with code "BYE".
import type { HealthPlan } from "../config/schema.ts";
import type { HealthCheck, HealthCheckFactory } from "./check.ts";
import { ScriptCheck, expect, send, type LineScript } from "./script.ts";

export const imapScript: LineScript = {
  steps: [
    expect("greeting", /^\* (?:OK|PREAUTH)\b/i, /^\* (OK|PREAUTH|BYE|NO|BAD)\b/i),
    send("sy1 LOGOUT\r\n"),
    expect("LOGOUT reply", /^sy1 OK\b/i, /^sy1 (OK|NO|BAD)\b/i, /^\* /),
  ],
  bye: "sy1 LOGOUT\r\n",
};

export const imap = {
  type: "imap",
  create(health: HealthPlan): HealthCheck { return new ScriptCheck(imapScript, health.timeoutMs); },
} as const satisfies HealthCheckFactory;
