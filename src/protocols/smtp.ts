// SMTP listener (RFC 5321; PIPELINING RFC 2920; STARTTLS RFC 3207; enhanced codes RFC 3463):
// the proxy greets with its own 220, answers EHLO/HELO/NOOP/RSET/QUIT/STARTTLS and takes MAIL FROM
// (checked for syntax only, acknowledged locally like nginx with `smtp_auth none`). The first
// RCPT TO picks the server (key rcpt_domain/destination: the recipient's domain; source: the
// client address), which is greeted (220), sent EHLO, then XCLIENT with the client's address and
// HELO when `xclient: true` (Postfix answers with a new 220; the client's own EHLO follows), then
// the client's MAIL FROM and RCPT TO. The server's answer to that RCPT is what the client gets:
// the proxy never says 250 for something the server did not accept. Then smtp-relay.ts takes over.
// A server failing before MAIL FROM was replayed: the next one is tried. None: 421 4.3.2, close.
import net from "node:net";
import { domainToASCII } from "node:url";
import type { Socket } from "node:net";
import type { KeyKind } from "../core/types.ts";
import type { ProtocolAdapter } from "./adapter.ts";
import { MailHandler, MailSession, xtext } from "./mail-common.ts";
import { STEP_OK, type StepResult, type UpstreamConn } from "./mail-upstream.ts";
import { SMTP_LINE_LIMIT, SmtpRelay, type SmtpRelaySummary } from "./smtp-relay.ts";

const CRLF = Buffer.from("\r\n");
// <path> as RFC 5321 asks; a bare address (no angle brackets) is taken too, as Postfix does by default
const MAIL_FROM = /^FROM:\s*(?:<([^<>]*)>|([^\s<>]+))(?: .*)?$/i;
const RCPT_TO = /^TO:\s*(?:<([^<>]*)>|([^\s<>]+))(?: .*)?$/i;

/** Lower-case IDNA A-label domain of an address ("" when it has none: postmaster, <>). */
export function addressDomain(address: string): string {
  const path = address.includes(":") && address.startsWith("@") ? address.slice(address.indexOf(":") + 1) : address;
  const at = path.lastIndexOf("@");
  if (at < 0) return "";
  const d = path.slice(at + 1).trim().toLowerCase();
  if (d === "" || d.startsWith("[")) return d;
  const a = domainToASCII(d);
  return a === "" ? d : a;
}

/** Code of an SMTP reply (its last line), 0 when malformed. */
export function replyCode(lines: readonly Buffer[]): number {
  const last = lines[lines.length - 1];
  if (last === undefined || last.length < 3) return 0;
  const n = Number(last.toString("latin1", 0, 3));
  return Number.isInteger(n) ? n : 0;
}

export class SmtpSession extends MailSession {
  /** The client's EHLO/HELO (verb and its first argument); null until given (and after STARTTLS). */
  #helo: { readonly verb: "EHLO" | "HELO"; readonly arg: string } | null = null;
  /** The client's MAIL FROM line (without CRLF); null outside a transaction. */
  #mail: Buffer | null = null;
  #relay: SmtpRelay | null = null;

  constructor(owner: MailHandler, client: Socket) {
    super(owner, client, SMTP_LINE_LIMIT);
  }

  protected greeting(): string { return `220 ${this.plan.hostname} ESMTP ready\r\n`; }
  protected outageReply(): string { return `421 4.3.2 ${this.plan.hostname} No mail server available, try again later\r\n`; }
  protected timeoutReply(): string { return `421 4.4.2 ${this.plan.hostname} Error: timeout exceeded\r\n`; }
  protected shutdownReply(): string { return `421 4.3.2 ${this.plan.hostname} Service shutting down, try again later\r\n`; }
  protected tooManyErrorsReply(): string { return `421 4.7.0 ${this.plan.hostname} Error: too many errors\r\n`; }
  protected upstreamQuit(): string { return "QUIT\r\n"; }

  protected earlyKey(kind: KeyKind | null): string | null | undefined {
    return kind === null ? null : kind === "source" ? this.remoteIp : undefined;
  }

  protected async greetUpstream(conn: UpstreamConn): Promise<StepResult> {
    const reply = await conn.readReply(this.route.pool.plan.connectTimeoutMs);
    if (reply !== null && replyCode(reply) === 220) return STEP_OK;
    return { ok: false, outcome: conn.failOutcome(), detail: conn.failDetail("instead of a 220 greeting", reply) };
  }

  #ehloReply(): string {
    const ext = ["PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES"];
    if (this.offerTls) ext.push("STARTTLS");
    let s = `250-${this.plan.hostname}\r\n`;
    for (let i = 0; i < ext.length; i++) s += `250${i === ext.length - 1 ? " " : "-"}${ext[i]}\r\n`;
    return s;
  }

  protected step(): boolean {
    const r = this.reader.nextLine();
    if (r === null) return false;
    if (r.kind === "too-long") { this.protocolError("500 5.5.2 Error: line too long\r\n"); return true; }
    const line = r.line;
    if (line.includes(0x0d) || line.includes(0x00)) { this.protocolError("500 5.5.2 Error: bad characters in command\r\n"); return true; }
    const text = line.toString("latin1");
    const sp = text.indexOf(" ");
    const verb = (sp < 0 ? text : text.slice(0, sp)).toUpperCase();
    const arg = sp < 0 ? "" : text.slice(sp + 1).trim();
    switch (verb) {
      case "EHLO":
      case "HELO": {
        const name = arg.split(/\s+/)[0];
        if (name === "") { this.protocolError(`501 5.5.4 Syntax: ${verb} hostname\r\n`); return true; }
        this.#helo = { verb, arg: name };
        this.#mail = null;
        this.send(verb === "EHLO" ? this.#ehloReply() : `250 ${this.plan.hostname}\r\n`);
        return true;
      }
      case "STARTTLS":
        if (arg !== "") { this.protocolError("501 5.5.4 Syntax: STARTTLS\r\n"); return true; }
        if (!this.offerTls) { this.protocolError(this.secure ? "503 5.5.1 Error: TLS already active\r\n" : "502 5.5.1 Error: STARTTLS not available\r\n"); return true; }
        this.send("220 2.0.0 Ready to start TLS\r\n");
        this.#helo = null;
        this.#mail = null;
        if (!this.upgradeTls()) this.finishWith("454 4.7.0 TLS not available due to temporary reason\r\n", "tls-unavailable");
        return true;
      case "NOOP":
        this.send("250 2.0.0 Ok\r\n");
        return true;
      case "RSET":
        this.#mail = null;
        this.send("250 2.0.0 Ok\r\n");
        return true;
      case "QUIT":
        this.finishWith("221 2.0.0 Bye\r\n", "client-quit");
        return true;
      case "HELP":
        this.send("214 2.0.0 See RFC 5321\r\n");
        return true;
      case "VRFY":
        this.send("252 2.1.5 Cannot VRFY user, but will accept message and attempt delivery\r\n");
        return true;
      case "MAIL":
        if (this.#helo === null) { this.protocolError("503 5.5.1 Error: send HELO/EHLO first\r\n"); return true; }
        if (this.#mail !== null) { this.protocolError("503 5.5.1 Error: nested MAIL command\r\n"); return true; }
        if (!MAIL_FROM.test(arg)) { this.protocolError("501 5.5.4 Syntax: MAIL FROM:<address>\r\n"); return true; }
        this.#mail = Buffer.from(line);
        this.send("250 2.1.0 Ok\r\n");
        return true;
      case "RCPT": {
        if (this.#mail === null) { this.protocolError("503 5.5.1 Error: need MAIL command\r\n"); return true; }
        const m = RCPT_TO.exec(arg);
        if (m === null) { this.protocolError("501 5.5.4 Syntax: RCPT TO:<address>\r\n"); return true; }
        const address = m[1] ?? m[2];
        const domain = addressDomain(address);
        this.user = domain === "" ? address : domain;
        this.runAsync(this.#envelope(this.#mail, Buffer.from(line), domain));
        return true;
      }
      case "DATA":
      case "BDAT":
        this.protocolError(this.#mail === null ? "503 5.5.1 Error: need MAIL command\r\n" : "503 5.5.1 Error: need RCPT command\r\n");
        return true;
      default:
        this.protocolError(verb === "AUTH" || verb === "XCLIENT" || verb === "XFORWARD" || verb === "ETRN" || verb === "EXPN"
          ? "502 5.5.1 Error: command not implemented\r\n" : "500 5.5.1 Error: command not recognized\r\n");
        return true;
    }
  }

  /** First RCPT: pick, prepare the server (EHLO, XCLIENT, EHLO), replay MAIL FROM and RCPT TO, relay. */
  async #envelope(mail: Buffer, rcpt: Buffer, domain: string): Promise<void> {
    const kind = this.route.key;
    const key = kind === "rcpt_domain" || kind === "destination" ? (domain === "" ? this.remoteIp : domain) : kind === "source" ? this.remoteIp : null;
    for (let attempt = 0; attempt < 2 + this.route.pool.plan.retries; attempt++) {
      let conn = this.conn;
      this.conn = null;
      if (conn !== null && conn.gone !== null) { conn.close("ok"); conn = null; }
      if (conn === null && this.plan.authHttp !== null) {
        const a = await this.connectAuthHttp({ method: "none", user: "", pass: "", helo: this.#helo?.arg ?? "", from: mail.toString("latin1"), to: rcpt.toString("latin1") },
          (message, code) => `${code ?? "535 5.7.0"} ${message}\r\n`);
        if (a === null) return;
        conn = a.conn;
      }
      if (conn === null) {
        conn = await this.connect(key);
        if (conn === null) return;
      }
      if (this.phase !== "talk") { conn.close("client-aborted"); return; }
      const prep = await this.#prepare(conn);
      if (this.phase !== "talk") { conn.close("client-aborted"); return; }
      if (!prep.ok) {
        this.ctx.log.warn({ detail: prep.detail }, "mail server failed before the envelope; trying another");
        this.exclude.add(conn.lease.server);
        conn.close(prep.outcome);
        continue;
      }
      const stepMs = this.loginMs;
      conn.write(Buffer.concat([mail, CRLF]));
      const mr = await conn.readReply(stepMs);
      if (this.phase !== "talk") { conn.close("client-aborted"); return; }
      if (mr === null) { this.#lostDuringEnvelope(conn); return; }
      if (replyCode(mr) !== 250) {
        // the server refused the sender the proxy acknowledged: its refusal answers this RCPT
        this.sendLines(mr);
        this.#handoff(conn);
        return;
      }
      conn.write(Buffer.concat([rcpt, CRLF]));
      const rr = await conn.readReply(stepMs);
      if (this.phase !== "talk") { conn.close("client-aborted"); return; }
      if (rr === null) { this.#lostDuringEnvelope(conn); return; }
      this.sendLines(rr);
      this.#handoff(conn);
      return;
    }
    this.finishWith(this.outageReply(), "handshake-failed");
  }

  #lostDuringEnvelope(conn: UpstreamConn): void {
    this.ctx.log.warn({ detail: conn.failDetail("during the envelope", null) }, "mail server failed during the envelope");
    conn.close(conn.failOutcome());
    this.finishWith(`421 4.3.2 ${this.plan.hostname} Error: connection to the mail server lost, try again later\r\n`, "upstream-lost");
  }

  /** EHLO, XCLIENT (when configured and offered), the client's EHLO/HELO. Sends nothing of the envelope. */
  async #prepare(conn: UpstreamConn): Promise<StepResult> {
    const helo = this.#helo;
    if (helo === null) return { ok: false, outcome: "client-aborted", detail: "no HELO" }; // MAIL needs one: cannot happen
    const ms = this.route.pool.plan.connectTimeoutMs;
    if (this.plan.xclient) {
      conn.write(`EHLO ${this.plan.hostname}\r\n`);
      const r = await conn.readReply(ms);
      if (r === null || replyCode(r) !== 250) return { ok: false, outcome: conn.failOutcome(), detail: conn.failDetail("to EHLO", r) };
      const offered = xclientAttributes(r);
      if (offered === null) {
        this.ctx.log.warn({ server: conn.lease.server.address }, "xclient is on but the server does not offer XCLIENT; the client address is not passed");
      } else {
        conn.write(`XCLIENT ${this.#xclientArgs(offered, helo)}\r\n`);
        const x = await conn.readReply(ms);
        const code = x === null ? 0 : replyCode(x);
        if (code !== 220 && code !== 250) return { ok: false, outcome: conn.failOutcome(), detail: conn.failDetail("to XCLIENT", x) };
      }
    }
    conn.write(`${helo.verb} ${helo.arg}\r\n`);
    const h = await conn.readReply(ms);
    if (h === null || replyCode(h) !== 250) return { ok: false, outcome: conn.failOutcome(), detail: conn.failDetail(`to ${helo.verb}`, h) };
    return STEP_OK;
  }

  /** XCLIENT attributes (Postfix XCLIENT_README): only those the server offers; values xtext. */
  #xclientArgs(offered: ReadonlySet<string>, helo: { readonly verb: string; readonly arg: string }): string {
    const out: string[] = [];
    const ip = this.remoteIp;
    if (offered.has("ADDR")) out.push(`ADDR=${net.isIPv6(ip) ? `IPV6:${ip}` : ip}`);
    if (offered.has("PORT")) out.push(`PORT=${this.remotePort}`);
    if (offered.has("NAME")) out.push("NAME=[UNAVAILABLE]");
    if (offered.has("HELO")) out.push(`HELO=${xtext(helo.arg)}`);
    if (offered.has("PROTO")) out.push(`PROTO=${helo.verb === "EHLO" ? "ESMTP" : "SMTP"}`);
    if (offered.has("DESTADDR")) out.push(`DESTADDR=${net.isIPv6(this.localIp) ? `IPV6:${this.localIp}` : this.localIp}`);
    if (offered.has("DESTPORT")) out.push(`DESTPORT=${this.localPort}`);
    return out.join(" ");
  }

  /** The envelope is at the server: smtp-relay.ts relays from here on. */
  #handoff(conn: UpstreamConn): void {
    this.phase = "relay";
    this.stopTimer();
    this.upstreamAddr = conn.lease.server.address;
    const client = this.client;
    client.pause();
    client.off("data", this.onData);
    client.off("end", this.onEnd);
    const fromServer = conn.detach();
    const fromClient = this.reader.take();
    const lease = conn.lease;
    this.#relay = new SmtpRelay(client, conn.socket, fromClient, fromServer, this.ended, this.plan.idleTimeoutMs, this.plan.hostname, (sum: SmtpRelaySummary) => {
      this.phase = "done";
      this.outcome = sum.end;
      this.bytesUp += sum.bytesUp;
      this.bytesDown += sum.bytesDown;
      lease.release(sum.end === "upstream-reset" || sum.end === "upstream-lost" ? "upstream-reset" : sum.end === "client-reset" ? "client-aborted" : "ok");
      this.logAccess();
      this.owner.sessions.delete(this);
    });
  }

  protected override forceRelay(): void {
    this.#relay?.forceClose();
  }
}

/** The attribute names after XCLIENT in an EHLO reply; null when XCLIENT is not offered. */
export function xclientAttributes(ehlo: readonly Buffer[]): Set<string> | null {
  for (const l of ehlo) {
    const words = l.toString("latin1", 4).trim().split(/\s+/);
    if (words[0].toUpperCase() === "XCLIENT") return new Set(words.slice(1).map((w) => w.toUpperCase()));
  }
  return null;
}

export const smtp: ProtocolAdapter = {
  protocol: "smtp",
  keys: ["source", "destination", "rcpt_domain"],
  create: (ctx) => new MailHandler(ctx, (h, client) => new SmtpSession(h, client)),
};
