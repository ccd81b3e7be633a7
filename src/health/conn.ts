// One probe connection: dial, buffered reads (lines or MySQL packets), polite close, and the
// mapping from socket events to ProbeResult. Every socket-speaking check (tcp, mysql, the line
// scripts) runs on this, so the layers and reasons mean the same thing for all of them:
//   refused / reset / timeout before connect      -> L4  (HAProxy L4CON / L4TOUT)
//   timeout after connect                          -> L7  (L7TOUT)
//   the server spoke, but not what was expected    -> L7 bad-status / bad-response (L7STS / L7RSP)
// Reads are bounded (maxBuffered bytes) so a server that streams garbage cannot grow memory.
import net from "node:net";
import type { ProbeResult, ProbeTarget } from "./check.ts";

export type ProbeFailure = Extract<ProbeResult, { ok: false }>;
export type ProbeSuccess = Extract<ProbeResult, { ok: true }>;

/** Bytes a probe keeps buffered before it gives up with bad-response (64 KiB). */
export const MAX_BUFFERED = 64 * 1024;
/** After our FIN, how long we wait for the server's before destroying the socket (ms). */
const CLOSE_GRACE_MS = 2000;

export function success(layer: "L4" | "L7", code: string | null, ms: number): ProbeSuccess {
  return { ok: true, layer, code, ms };
}

export function failure(
  layer: ProbeFailure["layer"], reason: ProbeFailure["reason"], code: string | null, info: string, ms: number,
): ProbeFailure {
  return { ok: false, layer, reason, code, info, ms };
}

/** "timeout after N ms" with N the plan's timeout: the text the runner logs. */
export function timeoutInfo(timeoutMs: number): string {
  return `timeout after ${timeoutMs} ms`;
}

/** Milliseconds since t0, rounded to 0.1 ms. */
export function elapsed(t0: number): number {
  return Math.round((performance.now() - t0) * 10) / 10;
}

function errnoOf(err: unknown): string {
  if (err !== null && typeof err === "object" && "code" in err && typeof err.code === "string") return err.code;
  return "";
}

/**
 * Socket error -> failure. ECONNREFUSED is "refused"; resets, pipes and a server that vanished
 * are "reset"; anything else (EHOSTUNREACH, ENETUNREACH ...) is an L4 "refused" with the errno.
 */
export function socketFailure(err: unknown, connected: boolean, t0: number): ProbeFailure {
  const code = errnoOf(err);
  const msg = err instanceof Error ? err.message : String(err);
  if (code === "ECONNRESET" || code === "EPIPE" || code === "ECONNABORTED") {
    return failure("L4", "reset", code, connected ? "connection reset by server" : "connection reset during connect", elapsed(t0));
  }
  if (code === "ECONNREFUSED") return failure("L4", "refused", code, "connect refused", elapsed(t0));
  return failure("L4", "refused", code === "" ? null : code, msg, elapsed(t0));
}

/**
 * A connected probe socket with a byte buffer. Methods resolve, never reject: a failure comes
 * back as a ProbeFailure value, and after the first failure every later read returns it too.
 */
export class ProbeConn {
  readonly socket: net.Socket;
  readonly t0: number;
  readonly timeoutMs: number;
  connected = false;
  #buf: Buffer = Buffer.alloc(0);
  #failed: ProbeFailure | null = null;
  #eof = false;
  #wake: (() => void) | null = null;
  readonly #signal: AbortSignal;
  readonly #onAbort: () => void;

  private constructor(target: ProbeTarget, signal: AbortSignal, timeoutMs: number) {
    this.t0 = performance.now();
    this.timeoutMs = timeoutMs;
    this.#signal = signal;
    this.socket = net.connect({ host: target.host, port: target.port, noDelay: true });
    this.#onAbort = this.#abort.bind(this);
    this.socket.on("data", this.#onData.bind(this));
    this.socket.on("end", this.#onEnd.bind(this));
    this.socket.on("error", this.#onError.bind(this));
    this.socket.on("close", this.#onEnd.bind(this));
    if (signal.aborted) this.#abort();
    else signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** Dial target; resolves the connection, or the L4 failure (refused, reset, timeout). */
  static open(target: ProbeTarget, signal: AbortSignal, timeoutMs: number): Promise<ProbeConn | ProbeFailure> {
    const c = new ProbeConn(target, signal, timeoutMs);
    if (c.#failed !== null) return Promise.resolve(c.#failed);
    return new Promise((resolve) => {
      c.socket.once("connect", () => { c.connected = true; resolve(c); });
      c.#wake = () => { if (!c.connected) resolve(c.#failed ?? failure("L4", "reset", null, "closed during connect", elapsed(c.t0))); };
    });
  }

  /** The failure recorded so far, if any (abort, socket error). */
  get failed(): ProbeFailure | null { return this.#failed; }

  #fail(f: ProbeFailure): void {
    if (this.#failed === null) this.#failed = f;
    this.#notify();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    if (w !== null) w();
  }

  #abort(): void {
    this.#fail(failure(this.connected ? "L7" : "L4", "timeout", null, timeoutInfo(this.timeoutMs), elapsed(this.t0)));
    this.socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    if (this.#buf.length > MAX_BUFFERED) {
      this.#fail(failure("L7", "bad-response", null, `more than ${MAX_BUFFERED} bytes without a complete reply`, elapsed(this.t0)));
      this.socket.destroy();
      return;
    }
    this.#notify();
  }

  #onEnd(): void {
    this.#eof = true;
    this.#notify();
  }

  #onError(err: Error): void {
    this.#fail(socketFailure(err, this.connected, this.t0));
  }

  #closedEarly(what: string): ProbeFailure {
    return failure("L7", "bad-response", null, `connection closed by server ${what}`, elapsed(this.t0));
  }

  #waitMore(): Promise<void> {
    return new Promise((resolve) => { this.#wake = resolve; });
  }

  /**
   * The next CRLF- (or LF-) terminated line without its terminator, at most maxLen bytes;
   * `what` names the awaited reply for the error text ("before the greeting").
   */
  async line(maxLen: number, what: string): Promise<string | ProbeFailure> {
    for (;;) {
      const nl = this.#buf.indexOf(0x0a);
      if (nl >= 0) {
        if (nl > maxLen) return this.#tooLong(maxLen);
        const end = nl > 0 && this.#buf[nl - 1] === 0x0d ? nl - 1 : nl;
        const text = this.#buf.toString("latin1", 0, end);
        this.#buf = this.#buf.subarray(nl + 1);
        return text;
      }
      if (this.#buf.length > maxLen) return this.#tooLong(maxLen);
      if (this.#failed !== null) return this.#failed;
      if (this.#eof) return this.#closedEarly(what);
      await this.#waitMore();
    }
  }

  #tooLong(maxLen: number): ProbeFailure {
    const f = failure("L7", "bad-response", null, `reply line longer than ${maxLen} bytes`, elapsed(this.t0));
    this.#fail(f);
    return f;
  }

  /**
   * One MySQL packet (3-byte LE length, 1-byte sequence id, payload), not split across 16 MiB
   * boundaries: a probe never reads anything that large.
   */
  async packet(what: string): Promise<{ seq: number; payload: Buffer } | ProbeFailure> {
    for (;;) {
      if (this.#buf.length >= 4) {
        const len = this.#buf.readUIntLE(0, 3);
        if (len + 4 > MAX_BUFFERED) {
          const f = failure("L7", "bad-response", null, `packet of ${len} bytes`, elapsed(this.t0));
          this.#fail(f);
          return f;
        }
        if (this.#buf.length >= len + 4) {
          const seq = this.#buf[3];
          const payload = this.#buf.subarray(4, 4 + len);
          this.#buf = this.#buf.subarray(4 + len);
          return { seq, payload };
        }
      }
      if (this.#failed !== null) return this.#failed;
      if (this.#eof) return this.#closedEarly(what);
      await this.#waitMore();
    }
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /**
   * Say goodbye: optional last bytes, then FIN. The server normally closes its side at once; if
   * it does not within CLOSE_GRACE_MS the socket is destroyed, so a probe never leaks one.
   */
  close(last: string | Buffer | null): void {
    this.#signal.removeEventListener("abort", this.#onAbort);
    const s = this.socket;
    if (s.destroyed) return;
    if (!s.writable) { s.destroy(); return; }   // the server already closed: nothing to say
    s.setTimeout(CLOSE_GRACE_MS, () => s.destroy());
    if (last !== null) s.end(last);
    else s.end();
  }

  /** Immediate teardown (after a failure that already ended the conversation). */
  destroy(): void {
    this.#signal.removeEventListener("abort", this.#onAbort);
    this.socket.destroy();
  }
}
