// POP3 listener (RFC 1939, CAPA RFC 2449, STLS RFC 2595, AUTH RFC 5034, codes RFC 3206): the proxy
// greets, answers CAPA/NOOP/QUIT/STLS and collects USER/PASS or AUTH PLAIN; then it picks a server
// by the login (key user/destination) or client address, replays the login the way the client gave
// it (USER/PASS, or AUTH PLAIN with the client's own response), relays the server's answer and pipes.
// A wrong password is the server's -ERR, relayed; the server connection is then dropped and the
// client may try again (each failure counts toward max_errors).
import type { Socket } from "node:net";
import type { KeyKind } from "../core/types.ts";
import type { ProtocolAdapter } from "./adapter.ts";
import { MailHandler, MailSession, decodePlain, loginKey, withCredentials, type Credentials } from "./mail-common.ts";
import { STEP_OK, type StepResult, type UpstreamConn } from "./mail-upstream.ts";

/** POP3 command lines: RFC 2449 says 255 octets, but AUTH responses (tokens) are longer. */
export const POP3_LINE_LIMIT = 8192;

const EMPTY = Buffer.alloc(0);

export class Pop3Session extends MailSession {
  /** USER given, waiting for PASS. */
  #user: Buffer | null = null;
  /** AUTH PLAIN without an initial response: the next line is the SASL response. */
  #saslWait = false;

  constructor(owner: MailHandler, client: Socket) {
    super(owner, client, POP3_LINE_LIMIT);
  }

  protected greeting(): string { return `+OK ${this.plan.hostname} POP3 ready\r\n`; }
  protected outageReply(): string { return "-ERR [SYS/TEMP] No mail server available, try again later\r\n"; }
  protected timeoutReply(): string { return "-ERR Disconnected for inactivity\r\n"; }
  protected shutdownReply(): string { return "-ERR [SYS/TEMP] Server shutting down, try again later\r\n"; }
  protected tooManyErrorsReply(): string { return "-ERR Too many invalid commands, closing\r\n"; }
  protected upstreamQuit(): string { return "QUIT\r\n"; }

  protected earlyKey(kind: KeyKind | null): string | null | undefined {
    return kind === null ? null : kind === "source" ? this.remoteIp : undefined;
  }

  protected async greetUpstream(conn: UpstreamConn): Promise<StepResult> {
    const line = await conn.readLine(this.route.pool.plan.connectTimeoutMs);
    if (line !== null && startsWith(line, "+OK")) return STEP_OK;
    return { ok: false, outcome: conn.failOutcome(), detail: conn.failDetail("instead of a POP3 greeting", line) };
  }

  protected step(): boolean {
    const r = this.reader.nextLine();
    if (r === null) return false;
    if (r.kind === "too-long") {
      this.#saslWait = false;
      this.protocolError("-ERR Line too long\r\n");
      return true;
    }
    const line = r.line.toString("latin1");
    if (this.#saslWait) {
      this.#saslWait = false;
      if (line === "*") { this.protocolError("-ERR Authentication cancelled\r\n"); return true; }
      this.#plain(line);
      return true;
    }
    const sp = line.indexOf(" ");
    const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const arg = sp < 0 ? "" : line.slice(sp + 1);
    switch (verb) {
      case "CAPA":
        this.send(`+OK Capability list follows\r\nUSER\r\nSASL PLAIN\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n${this.offerTls ? "STLS\r\n" : ""}IMPLEMENTATION switchyard\r\n.\r\n`);
        return true;
      case "NOOP":
        this.send("+OK\r\n");
        return true;
      case "QUIT":
        this.finishWith("+OK Bye\r\n", "client-quit");
        return true;
      case "STLS":
        if (!this.offerTls) { this.protocolError(this.secure ? "-ERR Command not permitted when TLS active\r\n" : "-ERR STLS not available\r\n"); return true; }
        this.send("+OK Begin TLS negotiation\r\n");
        this.#user = null;
        if (!this.upgradeTls()) this.finishWith("-ERR [SYS/TEMP] TLS not available\r\n", "tls-unavailable");
        return true;
      case "USER":
        if (arg === "") { this.protocolError("-ERR Missing user name\r\n"); return true; }
        this.#user = Buffer.from(arg, "latin1");
        this.send("+OK\r\n");
        return true;
      case "PASS": {
        const user = this.#user;
        if (user === null) { this.protocolError("-ERR USER first\r\n"); return true; }
        this.#user = null;
        this.#login({ authzid: EMPTY, user, pass: Buffer.from(arg, "latin1"), sasl: null });
        return true;
      }
      case "AUTH":
        this.#auth(arg);
        return true;
      case "APOP":
        this.protocolError("-ERR APOP not supported\r\n");
        return true;
      default:
        this.protocolError("-ERR Invalid command\r\n");
        return true;
    }
  }

  #auth(arg: string): void {
    if (arg === "") { this.send("+OK\r\nPLAIN\r\n.\r\n"); return; }
    const parts = arg.split(" ").filter((p) => p !== "");
    if (parts[0].toUpperCase() !== "PLAIN" || parts.length > 2) { this.protocolError("-ERR Unsupported authentication mechanism\r\n"); return; }
    if (parts.length === 1) { this.#saslWait = true; this.send("+ \r\n"); return; }
    this.#plain(parts[1] === "=" ? "" : parts[1]);
  }

  #plain(b64: string): void {
    const c = decodePlain(b64);
    if (c === null) { this.protocolError("-ERR [AUTH] Invalid SASL PLAIN response\r\n"); return; }
    this.#login(c);
  }

  #login(c: Credentials): void {
    this.user = loginKey(c);
    this.runAsync(this.#replay(c));
  }

  /** Phase E: replay the login on a server and relay its answer. */
  async #replay(given: Credentials): Promise<void> {
    let c = given;
    const kind = this.route.key;
    const key = kind === "user" || kind === "destination" ? loginKey(c) : kind === "source" ? this.remoteIp : null;
    for (let attempt = 0; attempt < 1 + this.route.pool.plan.retries + 1; attempt++) {
      let conn = this.conn;
      this.conn = null;
      if (conn !== null && conn.gone !== null) { conn.close("ok"); conn = null; }
      if (conn === null && this.plan.authHttp !== null) {
        const a = await this.connectAuthHttp({ method: "plain", user: given.user.toString("utf8"), pass: given.pass.toString("utf8"), helo: null, from: null, to: null },
          (message) => `-ERR ${message}\r\n`);
        if (a === null) return;
        conn = a.conn;
        c = withCredentials(given, a.user, a.pass);
      }
      if (conn === null) {
        conn = await this.connect(key);
        if (conn === null) return;
      }
      if (this.phase !== "talk") { conn.close("client-aborted"); return; }
      let answer: Buffer | null;
      if (c.sasl !== null) {
        conn.write(`AUTH PLAIN ${c.sasl}\r\n`);
        answer = await conn.readLine(this.loginMs);
      } else {
        conn.write(Buffer.concat([Buffer.from("USER "), c.user, Buffer.from("\r\n")]));
        const u = await conn.readLine(this.route.pool.plan.connectTimeoutMs);
        if (u === null) {
          // nothing secret was sent: this server failed before the login, try the next one
          this.ctx.log.info({ detail: conn.failDetail("after USER", null) }, "mail server failed before the login; trying another");
          this.exclude.add(conn.lease.server);
          conn.close(conn.failOutcome());
          continue;
        }
        if (!startsWith(u, "+OK")) { this.#failed(conn, u); return; }
        conn.write(Buffer.concat([Buffer.from("PASS "), c.pass, Buffer.from("\r\n")]));
        answer = await conn.readLine(this.loginMs);
      }
      if (this.phase !== "talk") { conn.close("client-aborted"); return; }
      if (answer === null) {
        this.ctx.log.warn({ user: this.user, detail: conn.failDetail("during the login", null) }, "mail server failed during the login");
        conn.close(conn.failOutcome());
        this.finishWith(this.outageReply(), "upstream-failed-login");
        return;
      }
      if (startsWith(answer, "+OK")) {
        this.sendLines([answer]);
        this.handoff(conn);
        return;
      }
      this.#failed(conn, answer);
      return;
    }
    this.finishWith(this.outageReply(), "handshake-failed");
  }

  /** The server refused the login: relay its answer, drop it, let the client try again. */
  #failed(conn: UpstreamConn, answer: Buffer): void {
    this.sendLines([answer]);
    conn.close("ok", "QUIT\r\n");
    this.countError();
  }
}

function startsWith(b: Buffer, s: string): boolean {
  return b.length >= s.length && b.toString("latin1", 0, s.length).toUpperCase() === s;
}

export const pop3: ProtocolAdapter = {
  protocol: "pop3",
  keys: ["source", "destination", "user"],
  create: (ctx) => new MailHandler(ctx, (h, client) => new Pop3Session(h, client)),
};
