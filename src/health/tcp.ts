// tcp: the L4 check. Connect, then close with a FIN (never a RST): the server sees an ordinary
// client that hung up. Passes at L4 when the handshake completes within the timeout.
import type { HealthPlan } from "../config/schema.ts";
import type { HealthCheck, HealthCheckFactory, ProbeResult, ProbeTarget } from "./check.ts";
import { ProbeConn, elapsed, success } from "./conn.ts";

class TcpCheck implements HealthCheck {
  readonly #timeoutMs: number;
  constructor(timeoutMs: number) { this.#timeoutMs = timeoutMs; }

  async probe(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
    const conn = await ProbeConn.open(target, signal, this.#timeoutMs);
    if (!(conn instanceof ProbeConn)) return conn;
    const ms = elapsed(conn.t0);
    conn.close(null);
    return success("L4", null, ms);
  }
}

export const tcp = {
  type: "tcp",
  create(health: HealthPlan): HealthCheck { return new TcpCheck(health.timeoutMs); },
} as const satisfies HealthCheckFactory;
