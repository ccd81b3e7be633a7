// http: one request on a fresh connection (no agent, "Connection: close"), then the status must
// fall in [expectLow, expectHigh] and, when plan.body is set, the body must contain it. Like
// HAProxy's option httpchk + http-check expect status/string. The body is read at most
// MAX_BODY bytes; a status outside the range is bad-status with the status as code.
import type { ClientRequest, IncomingMessage } from "node:http";
import { nodeHttp } from "../core/builtins.ts";
import type { Socket } from "node:net";
import type { HealthPlan } from "../config/schema.ts";
import type { HealthCheck, HealthCheckFactory, ProbeResult, ProbeTarget } from "./check.ts";
import { MAX_BUFFERED, elapsed, failure, socketFailure, success, timeoutInfo, type ProbeFailure } from "./conn.ts";

/** Body bytes searched for plan.body, and drained at most after a failure. */
const MAX_BODY = MAX_BUFFERED;

function errCode(err: Error): string {
  return "code" in err && typeof err.code === "string" ? err.code : "";
}

function hostHeader(plan: HealthPlan, target: ProbeTarget): string {
  if (plan.host !== null) return plan.host;
  return target.host.includes(":") ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}

/** State of one probe request; handlers are bound once per request, not per chunk. */
class HttpProbe {
  readonly t0 = performance.now();
  readonly #plan: HealthPlan;
  readonly #resolve: (r: ProbeResult) => void;
  readonly #signal: AbortSignal;
  readonly #req: ClientRequest;
  readonly #abortHandler: () => void;
  #connected = false;
  #done = false;
  #status = 0;
  #body = "";
  #bodyBytes = 0;

  constructor(plan: HealthPlan, target: ProbeTarget, signal: AbortSignal, resolve: (r: ProbeResult) => void) {
    this.#plan = plan;
    this.#resolve = resolve;
    this.#signal = signal;
    this.#req = nodeHttp().request({
      host: target.host,
      port: target.port,
      method: plan.method,
      path: plan.path,
      agent: false,
      setHost: false,
      headers: { host: hostHeader(plan, target), "user-agent": "switchyard-health", accept: "*/*", connection: "close" },
    });
    this.#req.on("socket", this.#onSocket.bind(this));
    this.#req.on("response", this.#onResponse.bind(this));
    this.#req.on("error", this.#onError.bind(this));
    this.#abortHandler = this.#onAbort.bind(this);
    if (signal.aborted) this.#onAbort();
    else signal.addEventListener("abort", this.#abortHandler, { once: true });
    if (!this.#done) this.#req.end();
  }

  #finish(r: ProbeResult): void {
    if (this.#done) return;
    this.#done = true;
    this.#signal.removeEventListener("abort", this.#abortHandler);
    this.#resolve(r);
  }

  #onAbort(): void {
    this.#finish(failure(this.#connected ? "L7" : "L4", "timeout", null, timeoutInfo(this.#plan.timeoutMs), elapsed(this.t0)));
    this.#req.destroy();
  }

  #onSocket(s: Socket): void {
    if (!s.connecting) this.#connected = true;
    else s.once("connect", () => { this.#connected = true; });
  }

  #onError(err: Error): void {
    if (this.#done) return;
    const code = errCode(err);
    let f: ProbeFailure;
    if (code.startsWith("HPE_")) {
      f = failure("L7", "bad-response", null, `invalid HTTP response (${code})`, elapsed(this.t0));
    } else if (this.#connected && err.message === "socket hang up") {
      f = failure("L7", "bad-response", null, "connection closed by server before the response", elapsed(this.t0));
    } else {
      f = socketFailure(err, this.#connected, this.t0);
    }
    this.#finish(f);
  }

  #onResponse(res: IncomingMessage): void {
    this.#status = res.statusCode ?? 0;
    const code = String(this.#status);
    res.on("error", this.#onError.bind(this));
    if (this.#status < this.#plan.expectLow || this.#status > this.#plan.expectHigh) {
      this.#finish(failure("L7", "bad-status", code, `status ${code}, expected ${this.#plan.expectLow}-${this.#plan.expectHigh}`, elapsed(this.t0)));
      res.on("data", this.#onDrain.bind(this, res));
      return;
    }
    if (this.#plan.body === null) {
      this.#finish(success("L7", code, elapsed(this.t0)));
      res.on("data", this.#onDrain.bind(this, res));
      return;
    }
    res.setEncoding("utf8");
    res.on("data", this.#onBody.bind(this, res));
    res.on("end", this.#onBodyEnd.bind(this));
  }

  /** Read and drop what is left (bounded), so the server finishes its response and closes. */
  #onDrain(res: IncomingMessage, chunk: Buffer | string): void {
    this.#bodyBytes += chunk.length;
    if (this.#bodyBytes > MAX_BODY) res.destroy();
  }

  #onBody(res: IncomingMessage, chunk: string): void {
    if (this.#done) return;
    this.#body += chunk;
    this.#bodyBytes += chunk.length;
    const want = this.#plan.body ?? "";
    if (this.#body.includes(want)) {
      this.#finish(success("L7", String(this.#status), elapsed(this.t0)));
      res.removeAllListeners("data");
      res.on("data", this.#onDrain.bind(this, res));
      return;
    }
    if (this.#bodyBytes > MAX_BODY) {
      this.#finish(failure("L7", "bad-response", String(this.#status), `body has no "${want}" in its first ${MAX_BODY} bytes`, elapsed(this.t0)));
      res.destroy();
      return;
    }
    // keep only a tail long enough for a match spanning two chunks
    if (this.#body.length > 2 * want.length + 4096) this.#body = this.#body.slice(-want.length);
  }

  #onBodyEnd(): void {
    this.#finish(failure("L7", "bad-response", String(this.#status), `body does not contain "${this.#plan.body ?? ""}"`, elapsed(this.t0)));
  }
}

class HttpCheck implements HealthCheck {
  readonly #plan: HealthPlan;
  constructor(plan: HealthPlan) { this.#plan = plan; }

  probe(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
    return new Promise((resolve) => { new HttpProbe(this.#plan, target, signal, resolve); });
  }
}

export const http = {
  type: "http",
  create(health: HealthPlan): HealthCheck { return new HttpCheck(health); },
} as const satisfies HealthCheckFactory;
