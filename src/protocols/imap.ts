// IMAP listener (RFC 3501; LITERAL+ RFC 7888; SASL-IR RFC 4959; response codes RFC 5530): the
// proxy greets, answers CAPABILITY/NOOP/LOGOUT/STARTTLS and collects LOGIN (atoms, quoted strings,
// synchronising {n} and non-synchronising {n+} literals) or AUTHENTICATE PLAIN; then it picks a
// server by the login (key user/destination) or client address, replays the login under the
// client's own tag (literals wait for the server's "+"), relays the server's answer and pipes.
// A wrong password is the server's tagged NO, relayed; the server connection is then dropped and
// the client may try again (each failure counts toward max_errors).
import type { Socket } from "node:net";
import type { KeyKind } from "../core/types.ts";
import type { ProtocolAdapter } from "./adapter.ts";
import { MailHandler, MailSession, decodePlain, loginKey, withCredentials, type Credentials } from "./mail-common.ts";
import { STEP_OK, type StepResult, type UpstreamConn } from "./mail-upstream.ts";

/** Longest command line (RFC 7162 section 4 asks servers to take 8192 octets). */
export const IMAP_LINE_LIMIT = 8192;
/** Largest whole command before login, literals included: more is refused with [TOOBIG], never buffered. */
export const IMAP_COMMAND_LIMIT = 16 * 1024;

const EMPTY = Buffer.alloc(0);

/** One argument: an atom, a quoted string (unescaped) or a literal's bytes. */
export interface ImapToken {
  readonly kind: "atom" | "string" | "literal";
  readonly value: Buffer;
}

/** How a command line fragment ended: complete, with a literal announcement, or malformed. */
export type FragmentEnd =
  | { readonly kind: "done" }
  | { readonly kind: "literal"; readonly size: number; readonly sync: boolean }
  | { readonly kind: "error"; readonly text: string };

const DONE: FragmentEnd = { kind: "done" };
const LITERAL = /^\{(\d{1,20})(\+?)\}$/;
/** tag = 1*<ASTRING-CHAR except "+"> */
const TAG = /^[^\x00-\x20\x7f-\xff(){%*"\\+]+$/;

/** Splits one line fragment into tokens (appended to out); a trailing {n} / {n+} announces a literal. */
export function parseFragment(b: Buffer, out: ImapToken[]): FragmentEnd {
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i];
    if (c === 0x20) { i++; continue; }
    if (c === 0x22) {
      const bytes: number[] = [];
      let closed = false;
      i++;
      while (i < n) {
        const d = b[i++];
        if (d === 0x5c) {
          if (i >= n) break;
          bytes.push(b[i++]);
        } else if (d === 0x22) {
          closed = true;
          break;
        } else {
          bytes.push(d);
        }
      }
      if (!closed) return { kind: "error", text: "Unterminated quoted string" };
      out.push({ kind: "string", value: Buffer.from(bytes) });
      continue;
    }
    if (c === 0x7b) {
      const m = LITERAL.exec(b.toString("latin1", i));
      if (m === null) return { kind: "error", text: "Invalid literal" };
      return { kind: "literal", size: Number(m[1]), sync: m[2] === "" };
    }
    let j = i;
    while (j < n && b[j] !== 0x20) j++;
    out.push({ kind: "atom", value: b.subarray(i, j) });
    i = j;
  }
  return DONE;
}

/** An IMAP astring for a replay: a quoted string when plain printable ASCII, else null (use a literal). */
export function quoted(v: Buffer): string | null {
  if (v.length > 1000) return null;
  let s = "\"";
  for (const b of v) {
    if (b < 0x20 || b > 0x7e) return null;
    s += b === 0x22 || b === 0x5c ? `\\${String.fromCharCode(b)}` : String.fromCharCode(b);
  }
  return `${s}"`;
}

/** What a login replay came to. */
type LoginEnd =
  | { readonly kind: "answer"; readonly lines: Buffer[]; readonly ok: boolean }
  | { readonly kind: "before" }   // failed before the password reached the server: try another
  | { readonly kind: "after" };   // failed after: no retry

export class ImapSession extends MailSession {
  /** Tokens of the command being read (across literals); null between commands. */
  #toks: ImapToken[] | null = null;
  #size = 0;
  /** Bytes of an announced literal still to read; -1 when none. */
  #literal = -1;
  /** AUTHENTICATE PLAIN without an initial response: the tag waiting for the SASL line. */
  #saslTag: string | null = null;
  /** The last greeted server's capabilities (from its greeting's [CAPABILITY ...]). */
  #serverCaps = "";

  constructor(owner: MailHandler, client: Socket) {
    super(owner, client, IMAP_LINE_LIMIT);
  }

  #caps(): string {
    return `IMAP4rev1 LITERAL+ SASL-IR AUTH=PLAIN${this.offerTls ? " STARTTLS" : ""}`;
  }

  protected greeting(): string { return `* OK [CAPABILITY ${this.#caps()}] ${this.plan.hostname} IMAP4rev1 ready\r\n`; }
  protected outageReply(): string { return "* BYE [UNAVAILABLE] No mail server available, try again later\r\n"; }
  protected timeoutReply(): string { return "* BYE Disconnected for inactivity\r\n"; }
  protected shutdownReply(): string { return "* BYE [UNAVAILABLE] Server shutting down, try again later\r\n"; }
  protected tooManyErrorsReply(): string { return "* BYE Too many invalid commands, closing\r\n"; }
  protected upstreamQuit(): string { return "Z LOGOUT\r\n"; }

  protected earlyKey(kind: KeyKind | null): string | null | undefined {
    return kind === null ? null : kind === "source" ? this.remoteIp : undefined;
  }

  protected async greetUpstream(conn: UpstreamConn): Promise<StepResult> {
    const line = await conn.readLine(this.route.pool.plan.connectTimeoutMs);
    if (line !== null && line.toString("latin1", 0, 5).toUpperCase() === "* OK ") {
      const text = line.toString("latin1");
      const m = /\[CAPABILITY ([^\]]*)\]/i.exec(text);
      this.#serverCaps = m === null ? "" : ` ${m[1].toUpperCase()} `;
      return STEP_OK;
    }
    return { ok: false, outcome: conn.failOutcome(), detail: conn.failDetail("instead of an IMAP greeting", line) };
  }

  #reset(): void {
    this.#toks = null;
    this.#size = 0;
    this.#literal = -1;
  }

  #tagOf(toks: readonly ImapToken[] | null): string {
    if (toks === null || toks.length === 0 || toks[0].kind !== "atom") return "*";
    const t = toks[0].value.toString("latin1");
    return TAG.test(t) ? t : "*";
  }

  protected step(): boolean {
    if (this.#literal >= 0) {
      const bytes = this.reader.nextBytes(this.#literal);
      if (bytes === null) return false;
      (this.#toks as ImapToken[]).push({ kind: "literal", value: Buffer.from(bytes) });
      this.#literal = -1;
      return true;
    }
    const r = this.reader.nextLine();
    if (r === null) return false;
    if (r.kind === "too-long") {
      const tag = this.#tagOf(this.#toks);
      this.#reset();
      this.#saslTag = null;
      this.protocolError(`${tag} BAD [TOOBIG] Command line too long\r\n`);
      return true;
    }
    if (this.#saslTag !== null) {
      const tag = this.#saslTag;
      this.#saslTag = null;
      const line = r.line.toString("latin1");
      if (line === "*") { this.protocolError(`${tag} BAD Authentication cancelled\r\n`); return true; }
      this.#plain(tag, line);
      return true;
    }
    const toks = this.#toks ?? [];
    this.#toks = toks;
    this.#size += r.line.length + 2;
    const end = parseFragment(r.line, toks);
    if (end.kind === "error") {
      const tag = this.#tagOf(toks);
      this.#reset();
      this.protocolError(`${tag} BAD ${end.text}\r\n`);
      return true;
    }
    if (end.kind === "literal") {
      const tag = this.#tagOf(toks);
      if (end.size > IMAP_COMMAND_LIMIT - this.#size) {
        this.#reset();
        if (end.sync) {
          // the client waits for "+": refusing keeps the stream in step, nothing is buffered
          this.protocolError(`${tag} BAD [TOOBIG] Literal too big\r\n`);
        } else {
          // the bytes are coming regardless: refuse and close rather than read them
          this.finishWith(`${tag} BAD [TOOBIG] Literal too big\r\n* BYE Literal too big, closing\r\n`, "literal-too-big");
        }
        return true;
      }
      this.#size += end.size;
      this.#literal = end.size;
      if (end.sync) this.send("+ Ready for literal data\r\n");
      return true;
    }
    this.#reset();
    this.#execute(toks);
    return true;
  }

  #execute(toks: ImapToken[]): void {
    if (toks.length === 0) { this.protocolError("* BAD Empty command line\r\n"); return; }
    const tag = this.#tagOf(toks);
    if (tag === "*") { this.protocolError("* BAD Invalid tag\r\n"); return; }
    if (toks.length < 2 || toks[1].kind !== "atom") { this.protocolError(`${tag} BAD Missing command\r\n`); return; }
    const cmd = toks[1].value.toString("latin1").toUpperCase();
    const args = toks.slice(2);
    switch (cmd) {
      case "CAPABILITY":
        if (args.length !== 0) break;
        this.send(`* CAPABILITY ${this.#caps()}\r\n${tag} OK Capability completed.\r\n`);
        return;
      case "NOOP":
        if (args.length !== 0) break;
        this.send(`${tag} OK NOOP completed.\r\n`);
        return;
      case "LOGOUT":
        if (args.length !== 0) break;
        this.finishWith(`* BYE Logging out\r\n${tag} OK Logout completed.\r\n`, "client-quit");
        return;
      case "STARTTLS":
        if (args.length !== 0) break;
        if (!this.offerTls) { this.protocolError(`${tag} BAD ${this.secure ? "TLS is already active" : "STARTTLS not available"}\r\n`); return; }
        this.send(`${tag} OK Begin TLS negotiation now.\r\n`);
        if (!this.upgradeTls()) this.finishWith("* BYE [UNAVAILABLE] TLS not available\r\n", "tls-unavailable");
        return;
      case "LOGIN":
        if (args.length !== 2) break;
        this.#login(tag, { authzid: EMPTY, user: args[0].value, pass: args[1].value, sasl: null });
        return;
      case "AUTHENTICATE": {
        if (args.length < 1 || args.length > 2 || args[0].kind !== "atom") break;
        if (args[0].value.toString("latin1").toUpperCase() !== "PLAIN") {
          this.protocolError(`${tag} NO Unsupported authentication mechanism\r\n`);
          return;
        }
        if (args.length === 1) { this.#saslTag = tag; this.send("+ \r\n"); return; }
        const ir = args[1].value.toString("latin1");
        this.#plain(tag, ir === "=" ? "" : ir);
        return;
      }
      default:
        this.protocolError(`${tag} BAD Invalid command\r\n`);
        return;
    }
    this.protocolError(`${tag} BAD Invalid arguments\r\n`);
  }

  #plain(tag: string, b64: string): void {
    const c = decodePlain(b64);
    if (c === null) { this.protocolError(`${tag} BAD Invalid SASL PLAIN response\r\n`); return; }
    this.#login(tag, c);
  }

  #login(tag: string, c: Credentials): void {
    this.user = loginKey(c);
    this.runAsync(this.#replay(tag, c));
  }

  /** Phase E: replay the login on a server under the client's tag and relay the answer. */
  async #replay(tag: string, given: Credentials): Promise<void> {
    let c = given;
    const kind = this.route.key;
    const key = kind === "user" || kind === "destination" ? loginKey(c) : kind === "source" ? this.remoteIp : null;
    for (let attempt = 0; attempt < 2 + this.route.pool.plan.retries; attempt++) {
      let conn = this.conn;
      this.conn = null;
      if (conn !== null && conn.gone !== null) { conn.close("ok"); conn = null; }
      if (conn === null && this.plan.authHttp !== null) {
        const a = await this.connectAuthHttp({ method: "plain", user: given.user.toString("utf8"), pass: given.pass.toString("utf8"), helo: null, from: null, to: null },
          (message) => `${tag} NO ${message}\r\n`);
        if (a === null) return;
        conn = a.conn;
        c = withCredentials(given, a.user, a.pass);
      }
      if (conn === null) {
        conn = await this.connect(key);
        if (conn === null) return;
      }
      if (this.phase !== "talk") { conn.close("client-aborted"); return; }
      const end = await this.#sendLogin(conn, tag, c);
      if (this.phase !== "talk") { conn.close("client-aborted"); return; }
      if (end.kind === "before") {
        this.ctx.log.info({ detail: conn.failDetail("before the login completed", null) }, "mail server failed before the login; trying another");
        this.exclude.add(conn.lease.server);
        conn.close(conn.failOutcome());
        continue;
      }
      if (end.kind === "after") {
        this.ctx.log.warn({ user: this.user, detail: conn.failDetail("during the login", null) }, "mail server failed during the login");
        conn.close(conn.failOutcome());
        this.finishWith(this.outageReply(), "upstream-failed-login");
        return;
      }
      this.sendLines(end.lines);
      if (end.ok) { this.handoff(conn); return; }
      conn.close("ok", "Z LOGOUT\r\n");
      this.countError();
      return;
    }
    this.finishWith(this.outageReply(), "handshake-failed");
  }

  /** Sends the login (LOGIN with quoted strings or synchronising literals, or AUTHENTICATE PLAIN) and reads the answer. */
  async #sendLogin(conn: UpstreamConn, tag: string, c: Credentials): Promise<LoginEnd> {
    const stepMs = this.route.pool.plan.connectTimeoutMs;
    if (c.sasl !== null) {
      if (this.#serverCaps.includes(" SASL-IR ")) {
        conn.write(`${tag} AUTHENTICATE PLAIN ${c.sasl}\r\n`);
      } else {
        conn.write(`${tag} AUTHENTICATE PLAIN\r\n`);
        const cont = await conn.readLine(stepMs);
        if (cont === null) return { kind: "before" };
        if (cont[0] !== 0x2b) return this.#answer(conn, tag, cont);
        conn.write(`${c.sasl}\r\n`);
      }
      return this.#answer(conn, tag, null);
    }
    let text = `${tag} LOGIN `;
    const values = [c.user, c.pass];
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      const last = i === values.length - 1;
      const q = quoted(v);
      if (q !== null) {
        text += q + (last ? "" : " ");
        continue;
      }
      conn.write(`${text}{${v.length}}\r\n`);
      const cont = await conn.readLine(stepMs);
      if (cont === null) return { kind: "before" };
      if (cont[0] !== 0x2b) return this.#answer(conn, tag, cont);
      conn.write(v);
      text = last ? "" : " ";
    }
    conn.write(`${text}\r\n`);
    return this.#answer(conn, tag, null);
  }

  /** Reads untagged lines up to the tagged one; first is a line already read. */
  async #answer(conn: UpstreamConn, tag: string, first: Buffer | null): Promise<LoginEnd> {
    const lines: Buffer[] = [];
    const prefix = `${tag} `;
    let line = first;
    for (let i = 0; i < 100; i++) {
      line ??= await conn.readLine(this.loginMs);
      if (line === null) return { kind: "after" };
      lines.push(line);
      if (line.length > prefix.length && line.toString("latin1", 0, prefix.length) === prefix) {
        const status = line.toString("latin1", prefix.length, prefix.length + 3).toUpperCase();
        return { kind: "answer", lines, ok: status === "OK " || (status === "OK" && line.length === prefix.length + 2) };
      }
      if (line[0] !== 0x2a) return { kind: "after" }; // neither untagged nor ours: the server is out of step
      line = null;
    }
    return { kind: "after" };
  }
}

export const imap: ProtocolAdapter = {
  protocol: "imap",
  keys: ["source", "destination", "user"],
  create: (ctx) => new MailHandler(ctx, (h, client) => new ImapSession(h, client)),
};
