// The upstream side of the SMTP, POP3 and IMAP listeners (protocols.md 4.1): dial a pool server, read
// its lines until the hand-over to the byte relay (greeting, capabilities, the replayed login), and try
// the next server when one connects but fails before the login is replayed. The client side is
// mail-common.ts.
import type { Socket } from "node:net";
import type { ListenerPlan } from "../config/schema.ts";
import type { Route } from "../core/route.ts";
import type { Outcome } from "../core/types.ts";
import type { Lease } from "../upstream/pool.ts";
import type { ServerView } from "../upstream/server.ts";
import { dial } from "../core/connect.ts";
import { LineReader } from "./line-reader.ts";
import { proxyHeader } from "./proxy-protocol.ts";

/** Longest server line read while replaying a login (CAPABILITY lines are the long ones). */
export const UPSTREAM_LINE_LIMIT = 16 * 1024;
/** A closing upstream that does not close its side within this time is destroyed. */
const LINGER_MS = 2000;


/** Result of one protocol step against a server. */
export type StepResult = { readonly ok: true } | { readonly ok: false; readonly outcome: Outcome; readonly detail: string };

export const STEP_OK: StepResult = { ok: true };

/** An upstream mail connection read line by line until the hand-over to the relay. */
export class UpstreamConn {
  readonly socket: Socket;
  readonly lease: Lease;
  readonly #reader = new LineReader(UPSTREAM_LINE_LIMIT);
  #waiter: ((line: Buffer | null) => void) | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** Why it can no longer be read: null while usable. */
  gone: "closed" | "timeout" | "too-long" | null = null;
  #released = false;

  constructor(socket: Socket, lease: Lease) {
    this.socket = socket;
    this.lease = lease;
    socket.on("data", this.#onData);
    socket.on("end", this.#onEnd);
    socket.on("close", this.#onEnd);
    socket.on("error", this.#onEnd);
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#reader.push(chunk);
    if (this.#waiter !== null) this.#deliver();
    else if (this.#reader.buffered > UPSTREAM_LINE_LIMIT) this.socket.pause(); // nobody reads: let TCP hold it
  };

  readonly #onEnd = (): void => {
    this.gone ??= "closed";
    if (this.#waiter !== null) this.#deliver();
  };

  #deliver(): void {
    const w = this.#waiter;
    if (w === null) return;
    const r = this.#reader.nextLine();
    if (r === null) {
      if (this.gone === null) return;
      this.#finishWait(w, null);
      return;
    }
    if (r.kind === "too-long") {
      this.gone = "too-long";
      this.#finishWait(w, null);
      return;
    }
    this.#finishWait(w, r.line);
  }

  #finishWait(w: (line: Buffer | null) => void, line: Buffer | null): void {
    this.#waiter = null;
    if (this.#timer !== null) { clearTimeout(this.#timer); this.#timer = null; }
    w(line);
  }

  /** The next line from the server (without CRLF); null when it closed, timed out or sent an over-long line. */
  readLine(timeoutMs: number): Promise<Buffer | null> {
    return new Promise((resolve) => {
      this.#waiter = resolve;
      this.#deliver();
      if (this.#waiter === null) return;
      if (this.gone !== null) { this.#finishWait(resolve, null); return; }
      this.socket.resume();
      this.#timer = setTimeout(() => { this.gone ??= "timeout"; this.#finishWait(resolve, null); }, timeoutMs);
    });
  }

  /** An SMTP reply: lines up to the one whose 4th byte is not "-"; null as for readLine. */
  async readReply(timeoutMs: number): Promise<Buffer[] | null> {
    const lines: Buffer[] = [];
    for (let i = 0; i < 64; i++) {
      const l = await this.readLine(timeoutMs);
      if (l === null) return null;
      lines.push(l);
      if (l.length < 4 || l[3] !== 0x2d) return lines;
    }
    this.gone = "too-long";
    return null;
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** The outcome of a failed step (timeout / closed / rejected) for passive health. */
  failOutcome(): Outcome {
    return this.gone === "timeout" ? "upstream-timeout" : this.gone === null ? "upstream-rejected" : "upstream-reset";
  }

  /** A step failed: the detail text for logs. */
  failDetail(what: string, line: Buffer | Buffer[] | null): string {
    const s = this.lease.server.address;
    if (line === null) return `${s}: ${this.gone === "timeout" ? "timed out" : this.gone === "too-long" ? "sent an over-long line" : "closed the connection"} ${what}`;
    const text = (Array.isArray(line) ? line[line.length - 1] : line).toString("latin1").slice(0, 200);
    return `${s}: unexpected reply ${what}: ${JSON.stringify(text)}`;
  }

  /** Stop reading for the relay: paused, our listeners gone; returns the bytes read but not consumed. */
  detach(): Buffer {
    this.socket.pause();
    this.socket.off("data", this.#onData);
    this.socket.off("end", this.#onEnd);
    this.socket.off("close", this.#onEnd);
    this.socket.off("error", this.#onEnd);
    if (this.#timer !== null) { clearTimeout(this.#timer); this.#timer = null; }
    return this.#reader.take();
  }

  /** Give the server back: release the lease with outcome (once) and close (politely when quit is given). */
  close(outcome: Outcome, quit: string | null = null): void {
    if (!this.#released) { this.#released = true; this.lease.release(outcome); }
    if (this.#timer !== null) { clearTimeout(this.#timer); this.#timer = null; }
    this.#waiter = null;
    if (quit !== null && !this.socket.destroyed && this.gone === null) {
      this.socket.end(quit);
      this.socket.setTimeout(LINGER_MS, () => this.socket.destroy());
    } else {
      this.socket.destroy();
    }
  }
}

export type ConnectResult =
  | { readonly ok: true; readonly conn: UpstreamConn }
  | { readonly ok: false; readonly reason: "no-server" | "connect-failed" | "handshake-failed"; readonly detail: string };

/** What connectMail needs from a session. */
export interface ConnectRequest {
  readonly route: Route;
  readonly key: string | null;
  readonly client: Socket;
  readonly plan: ListenerPlan;
  /** Checks the server's greeting (and any step that sends no credentials); a failure tries the next server. */
  readonly greet: (conn: UpstreamConn) => Promise<StepResult>;
  readonly cancelled: () => boolean;
  /** Servers tried by this session so far (grows). */
  readonly exclude: Set<ServerView>;
  /** Tries counter of the session, updated here. */
  tries: number;
}

/**
 * Dial a pool server and run `greet` on it; a server that connects but fails greet is released
 * with the failure and the next one is tried (never the same one twice), up to 1 + retries tries.
 */
export async function connectMail(req: ConnectRequest): Promise<ConnectResult> {
  const pool = req.route.pool;
  const maxTries = 1 + pool.plan.retries;
  const preamble = req.plan.proxyProtocol === null ? null : proxyHeader(req.plan.proxyProtocol, req.client);
  let detail = "";
  while (req.tries < maxTries) {
    const r = await dial(req.route, { key: req.key, clientPort: req.client.remotePort ?? 0, preamble, cancelled: req.cancelled, exclude: req.exclude, triesSpent: req.tries });
    req.tries = r.tries;
    if (!r.ok) {
      if (r.reason === "no-server" && detail !== "") return { ok: false, reason: "handshake-failed", detail };
      return { ok: false, reason: r.reason, detail: r.detail };
    }
    const conn = new UpstreamConn(r.socket, r.lease);
    const g = await req.greet(conn);
    if (g.ok) {
      if (!req.cancelled()) return { ok: true, conn };
      conn.close("client-aborted");
      return { ok: false, reason: "connect-failed", detail: "client gone" };
    }
    conn.close(g.outcome);
    detail = g.detail;
    req.exclude.add(r.lease.server);
    if (req.cancelled()) break;
  }
  return { ok: false, reason: "handshake-failed", detail: detail === "" ? "no server answered" : detail };
}
