// pop3: "+OK" greeting, QUIT -> "+OK" (RFC 1939). "-ERR" is bad-status with code "-ERR".
import type { HealthPlan } from "../config/schema.ts";
import type { HealthCheck, HealthCheckFactory } from "./check.ts";
import { ScriptCheck, expect, send, type LineScript } from "./script.ts";

const STATUS = /^(\+OK|-ERR)\b/;

export const pop3Script: LineScript = {
  steps: [
    expect("greeting", /^\+OK\b/, STATUS),
    send("QUIT\r\n"),
    expect("QUIT reply", /^\+OK\b/, STATUS),
  ],
  bye: "QUIT\r\n",
};

export const pop3 = {
  type: "pop3",
  create(health: HealthPlan): HealthCheck { return new ScriptCheck(pop3Script, health.timeoutMs); },
} as const satisfies HealthCheckFactory;
