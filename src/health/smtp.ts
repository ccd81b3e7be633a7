// smtp: 220 greeting (multi-line allowed), EHLO <helo> -> 250, QUIT -> 2xx, as HAProxy's
// smtpchk with EHLO. A 421/554 greeting is bad-status with that code; QUIT is sent on every
// path that still has a socket (RFC 5321 4.1.1.10: the client ends the session with QUIT).
import type { HealthPlan } from "../config/schema.ts";
import type { HealthCheck, HealthCheckFactory } from "./check.ts";
import { ScriptCheck, expect, send, type LineScript } from "./script.ts";

const CONTINUED = /^\d{3}-/;
const STATUS = /^([2-5]\d\d)(?:[ -]|$)/;

/** The SMTP script for one EHLO name (CR, LF and spaces are removed: one word only). */
export function smtpScript(helo: string): LineScript {
  const name = helo.replace(/[\s\x00-\x1f]/g, "") || "switchyard";
  return {
    steps: [
      expect("greeting", /^220(?: |$)/, STATUS, CONTINUED),
      send(`EHLO ${name}\r\n`),
      expect("EHLO reply", /^250(?: |$)/, STATUS, CONTINUED),
      send("QUIT\r\n"),
      expect("QUIT reply", /^2\d\d(?: |$)/, STATUS, CONTINUED),
    ],
    bye: "QUIT\r\n",
  };
}

export const smtp = {
  type: "smtp",
  create(health: HealthPlan): HealthCheck { return new ScriptCheck(smtpScript(health.helo), health.timeoutMs); },
} as const satisfies HealthCheckFactory;
