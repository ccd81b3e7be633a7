// Shared parts of the SMTP, POP3 and IMAP listeners (protocols.md 4.1, nginx's mail proxy flow):
// the client session skeleton (greeting, bounded line input, STARTTLS/implicit TLS at the proxy,
// max_errors, pre-login and idle timeouts, drain) and the hand-over to the byte relay. The upstream
// side (dial, greeting, login replay, next server) is mail-upstream.ts.
import net from "node:net";
import type tls from "node:tls";
import { fs, nodeTls } from "../core/builtins.ts";
import type { Socket } from "node:net";
import type { ListenerContext, ProtocolHandler } from "./adapter.ts";
import type { ListenerPlan, TlsCertPlan } from "../config/schema.ts";
import type { Route } from "../core/route.ts";
import type { KeyKind, Outcome } from "../core/types.ts";
import type { Lease } from "../upstream/pool.ts";
import type { ServerView } from "../upstream/server.ts";
import { dialServer } from "../core/connect.ts";
import { normaliseIp } from "../core/key.ts";
import { LineReader } from "./line-reader.ts";
import { relay, type Relay, type RelaySummary } from "./pipe.ts";
import { proxyHeader } from "./proxy-protocol.ts";
import { logSessionAccess, secs } from "../observability/access-log.ts";
import { askAuthHttp, type AuthHttpRequest } from "./auth-http.ts";
import { UpstreamConn, connectMail, type ConnectRequest, type StepResult } from "./mail-upstream.ts";

/** Pre-login timeout ceiling (nginx `timeout`, 60s); idle_timeout lowers it. */
export const PRE_LOGIN_MS = 60_000;
/** A closing client that does not close its side within this time is destroyed. */
const LINGER_MS = 2000;

const CRLF = Buffer.from("\r\n");

// ---------------------------------------------------------------------------------------------
// Small helpers

/** The pre-login timeout for a listener: min(60s, idle_timeout); idle_timeout 0 means 60s. */
export function preLoginMs(plan: ListenerPlan): number {
  return plan.idleTimeoutMs > 0 ? Math.min(PRE_LOGIN_MS, plan.idleTimeoutMs) : PRE_LOGIN_MS;
}

/** The login name as a key: authzid when present, else authcid; trimmed, lower-cased (schedulers.md 4.1). */
export function loginKey(c: Credentials): string {
  const id = c.authzid.length > 0 ? c.authzid : c.user;
  return id.toString("utf8").trim().toLowerCase();
}

/** xtext (RFC 3461 section 4): "+" "=" and bytes outside "!".."~" become "+HH". */
export function xtext(value: string): string {
  let out = "";
  for (const b of Buffer.from(value, "utf8")) {
    out += b < 0x21 || b > 0x7e || b === 0x2b || b === 0x3d ? `+${b.toString(16).toUpperCase().padStart(2, "0")}` : String.fromCharCode(b);
  }
  return out;
}

/** Login credentials as the client gave them; `sasl` is the client's PLAIN response (base64) or null for USER/PASS, LOGIN. */
export interface Credentials {
  readonly authzid: Buffer;
  readonly user: Buffer;
  readonly pass: Buffer;
  readonly sasl: string | null;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes a SASL PLAIN response (RFC 4616: authzid NUL authcid NUL passwd); null when malformed. */
export function decodePlain(b64: string): Credentials | null {
  const text = b64.trim();
  if (text === "" || !BASE64.test(text)) return null;
  const raw = Buffer.from(text, "base64");
  const a = raw.indexOf(0);
  if (a < 0) return null;
  const b = raw.indexOf(0, a + 1);
  if (b < 0 || raw.indexOf(0, b + 1) >= 0) return null;
  const user = raw.subarray(a + 1, b);
  if (user.length === 0) return null;
  return { authzid: raw.subarray(0, a), user, pass: raw.subarray(b + 1), sasl: text };
}

/** The credentials with auth_http's Auth-User / Auth-Pass (when given) in place of the client's. */
export function withCredentials(c: Credentials, user: string | null, pass: string | null): Credentials {
  if (user === null && pass === null) return c;
  const u = user === null ? c.user : Buffer.from(user, "utf8");
  const p = pass === null ? c.pass : Buffer.from(pass, "utf8");
  const sasl = c.sasl === null ? null : Buffer.concat([c.authzid, Buffer.from([0]), u, Buffer.from([0]), p]).toString("base64");
  return { authzid: c.authzid, user: u, pass: p, sasl };
}

/** A lease for a server named by auth_http rather than picked from the pool: nothing to count or release. */
function standaloneLease(host: string, port: number): Lease {
  const server: ServerView = {
    index: -1, address: net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`, host, port,
    weight: 1, lastWeight: 1, active: 0, inactive: 0, overloaded: false, available: true,
  };
  return { server, release: () => { /* not a pool server */ } };
}

// ---------------------------------------------------------------------------------------------
// TLS at the proxy

interface MailTls {
  readonly context: tls.SecureContext;
  readonly byHost: ReadonlyMap<string, tls.SecureContext>;
}

/** Secure contexts per plan.tls list (a reload makes a new list, so a new entry). */
const tlsCache = new WeakMap<readonly TlsCertPlan[], MailTls | Error>();

/** The listener's certificates, loaded once; an Error when a file cannot be read. */
export function mailTls(plan: ListenerPlan): MailTls | Error | null {
  const list = plan.tls;
  if (list === null || list.length === 0) return null;
  let t = tlsCache.get(list);
  if (t === undefined) {
    try {
      const byHost = new Map<string, tls.SecureContext>();
      let context: tls.SecureContext | null = null;
      for (const c of list) {
        const sc = nodeTls().createSecureContext({ cert: fs.readFileSync(c.cert), key: fs.readFileSync(c.key) });
        if (c.hosts.length === 0 || context === null) context ??= sc;
        for (const h of c.hosts) byHost.set(h.toLowerCase(), sc);
      }
      t = { context: context as tls.SecureContext, byHost };
    } catch (err) {
      t = err instanceof Error ? err : new Error(String(err));
    }
    tlsCache.set(list, t);
  }
  return t;
}

/** Wraps a plain socket as the TLS server side (STARTTLS or implicit TLS). */
export function wrapServerTls(sock: Socket, t: MailTls): tls.TLSSocket {
  return new (nodeTls().TLSSocket)(sock, {
    isServer: true,
    secureContext: t.context,
    SNICallback: t.byHost.size === 0 ? undefined : (name, cb) => cb(null, t.byHost.get(name.toLowerCase()) ?? t.context),
  });
}

// ---------------------------------------------------------------------------------------------
// Client side: the session skeleton

/** Where a session is: talking to the client alone, relaying, or over. */
export type Phase = "talk" | "relay" | "done";

/**
 * One client session. Subclasses implement the protocol's commands in step() and the protocol's
 * texts; this class owns the socket, the line reader, TLS, timers, error counting and the end.
 */
export abstract class MailSession {
  readonly ctx: ListenerContext;
  readonly plan: ListenerPlan;
  readonly route: Route;
  readonly owner: MailHandler;
  /** The client socket: the accepted one, or the TLS socket wrapping it. */
  client: Socket;
  readonly reader: LineReader;
  readonly remoteIp: string;
  readonly remotePort: number;
  readonly localIp: string;
  readonly localPort: number;
  readonly t0: number;
  readonly loginMs: number;
  phase: Phase = "talk";
  /** TLS is active on the client side. */
  secure = false;
  /** An asynchronous step (connect, login replay) runs: input waits, the client is paused. */
  busy = false;
  /** The client sent FIN. */
  ended = false;
  errors = 0;
  /** Login name (IMAP/POP3) or first recipient (SMTP) for the access log. */
  user: string | null = null;
  /** The upstream connection while talking (dialled early, or during a login). */
  conn: UpstreamConn | null = null;
  readonly exclude = new Set<ServerView>();
  tries = 0;
  /** auth_http requests made (Auth-Login-Attempt). */
  authAttempts = 0;
  outcome = "client-quit";
  upstreamAddr: string | null = null;
  tConnect: number | null = null;
  bytesUp = 0;
  bytesDown = 0;
  #timer: NodeJS.Timeout | null = null;
  #relay: Relay | null = null;
  #logged = false;

  constructor(owner: MailHandler, client: Socket, lineLimit: number) {
    this.owner = owner;
    this.ctx = owner.ctx;
    const st = owner.ctx.current();
    this.plan = st.plan;
    this.route = st.routes.first;
    this.client = client;
    this.reader = new LineReader(lineLimit);
    this.remoteIp = normaliseIp(client.remoteAddress);
    this.remotePort = client.remotePort ?? 0;
    this.localIp = normaliseIp(client.localAddress);
    this.localPort = client.localPort ?? 0;
    this.t0 = performance.now();
    this.loginMs = preLoginMs(this.plan);
  }

  // --- protocol texts and steps (subclasses) ---

  /** The proxy's greeting line(s), with CRLF. */
  protected abstract greeting(): string;
  /** Process one unit of buffered input; false when more input is needed. */
  protected abstract step(): boolean;
  /** No server could take the session: the temporary-failure line (with CRLF); the session closes after it. */
  protected abstract outageReply(): string;
  /** Pre-login inactivity, shutdown and too many errors: goodbye lines (with CRLF). */
  protected abstract timeoutReply(): string;
  protected abstract shutdownReply(): string;
  protected abstract tooManyErrorsReply(): string;
  /** Checks a fresh server's greeting. */
  protected abstract greetUpstream(conn: UpstreamConn): Promise<StepResult>;
  /** The key when it is known at accept (source, none): the session dials at once; undefined when it needs the login. */
  protected abstract earlyKey(kind: KeyKind | null): string | null | undefined;
  /** Polite goodbye to a server (QUIT / LOGOUT line) when a session drops it. */
  protected abstract upstreamQuit(): string;

  // --- start ---

  start(): void {
    const c = this.client;
    c.on("error", this.onError);
    c.on("close", this.onClose);
    if (this.ctx.draining()) { this.finishWith(this.shutdownReply(), "shutdown"); return; }
    if (this.plan.implicitTls) {
      if (!this.upgradeTls()) { this.outcome = "tls-unavailable"; this.destroy(); return; }
    } else {
      c.on("data", this.onData);
      c.on("end", this.onEnd);
    }
    this.armTimer(this.loginMs);
    const kind = this.route.key;
    // with auth_http the service names the server after the login: nothing to dial early
    const early = this.plan.authHttp === null ? this.earlyKey(kind) : undefined;
    if (early !== undefined) {
      this.runAsync(this.#early(early));
      return;
    }
    if (this.plan.authHttp === null && this.route.pool.eligible.length === 0) {
      this.outcome = "no-server";
      this.ctx.log.warn({ remote_addr: this.remoteIp, upstream: this.route.pool.name, reason: "no-server" }, "no server available: refusing mail session");
      this.finishWith(this.outageReply(), "no-server");
      return;
    }
    this.send(this.greeting());
  }

  /** Early dial (the key needs no login): connect and check the server before greeting the client. */
  async #early(key: string | null): Promise<void> {
    const r = await this.connect(key);
    if (r === null) return;
    this.conn = r;
    this.send(this.greeting());
  }

  /** connectMail for this session; on failure sends the outage reply, closes, and returns null. */
  async connect(key: string | null): Promise<UpstreamConn | null> {
    const req: ConnectRequest = {
      route: this.route, key, client: this.client, plan: this.plan, greet: (c) => this.greetUpstream(c),
      cancelled: () => this.phase === "done", exclude: this.exclude, tries: this.tries,
    };
    const r = await connectMail(req);
    this.tries = req.tries;
    if (r.ok) {
      this.tConnect = performance.now();
      return r.conn;
    }
    if (this.phase === "done") return null;
    this.ctx.log.warn({ remote_addr: this.remoteIp, upstream: this.route.pool.name, reason: r.reason, detail: r.detail, user: this.user }, `no mail server for the session: ${r.detail}`);
    this.finishWith(this.outageReply(), r.reason);
    return null;
  }

  /**
   * auth_http (protocols.md 4.1 B-D): ask the service, then dial the one server it names (no other is
   * tried: it chose). Returns the connection and the credentials to use toward it; null when the
   * session got its answer here: refuse(message, code) (the session goes on when the service sent
   * Auth-Wait, else it closes), or the outage reply when the service or its server failed.
   */
  async connectAuthHttp(facts: Pick<AuthHttpRequest, "method" | "user" | "pass" | "helo" | "from" | "to">, refuse: (message: string, code: string | null) => string): Promise<{ readonly conn: UpstreamConn; readonly user: string | null; readonly pass: string | null } | null> {
    const url = this.plan.authHttp as string;
    this.authAttempts++;
    const ans = await askAuthHttp(url, { ...facts, protocol: this.plan.protocol as AuthHttpRequest["protocol"], attempt: this.authAttempts, clientIp: this.remoteIp, secure: this.secure }, this.loginMs);
    if (this.phase !== "talk") return null;
    if (ans.kind === "error") {
      this.ctx.log.warn({ remote_addr: this.remoteIp, detail: ans.detail, user: this.user }, `auth_http failed: ${ans.detail}`);
      this.finishWith(this.outageReply(), "auth-http-failed");
      return null;
    }
    if (ans.kind === "refused") {
      if (ans.retry) {
        this.send(refuse(ans.message, ans.code));
        this.countError();
      } else {
        this.finishWith(refuse(ans.message, ans.code), "auth-refused");
      }
      return null;
    }
    const sock = await dialServer(ans.host, ans.port, this.route.pool.plan.connectTimeoutMs);
    this.tries++;
    if (this.phase !== "talk") { if (sock instanceof net.Socket) sock.destroy(); return null; }
    if (!(sock instanceof net.Socket)) {
      this.ctx.log.warn({ remote_addr: this.remoteIp, server: `${ans.host}:${ans.port}`, detail: sock.error, user: this.user }, "auth_http server did not connect");
      this.finishWith(this.outageReply(), "connect-failed");
      return null;
    }
    if (this.plan.proxyProtocol !== null) sock.write(proxyHeader(this.plan.proxyProtocol, this.client));
    const conn = new UpstreamConn(sock, standaloneLease(ans.host, ans.port));
    const g = await this.greetUpstream(conn);
    if (!g.ok || this.phase !== "talk") {
      conn.close(g.ok ? "client-aborted" : g.outcome);
      if (!g.ok) {
        this.ctx.log.warn({ remote_addr: this.remoteIp, detail: g.detail, user: this.user }, "auth_http server failed its greeting");
        this.finishWith(this.outageReply(), "handshake-failed");
      }
      return null;
    }
    this.tConnect = performance.now();
    return { conn, user: ans.user, pass: ans.pass };
  }

  // --- input ---

  readonly onData = (chunk: Buffer): void => {
    if (this.phase !== "talk") return;
    this.touch();
    this.reader.push(chunk);
    this.pump();
  };

  readonly onEnd = (): void => {
    this.ended = true;
    this.pump();
  };

  readonly onError = (): void => {
    if (this.phase === "talk") this.outcome = "client-reset";
  };

  readonly onClose = (): void => {
    if (this.phase !== "talk") return;
    this.phase = "done";
    this.stopTimer();
    if (this.outcome === "client-quit") this.outcome = "client-gone";
    this.dropUpstream("client-aborted");
    this.logAccess();
    this.owner.sessions.delete(this);
  };

  /**
   * Runs steps over buffered input until one needs more input or an async step starts. Reading
   * pauses while the client does not take our replies (pipelined floods), and every 1000 steps.
   */
  pump(): void {
    for (let i = 0; this.phase === "talk" && !this.busy; i++) {
      if (this.client.writableNeedDrain) {
        this.client.pause();
        if (!this.#waitDrain) { this.#waitDrain = true; this.client.once("drain", this.#repump); }
        return;
      }
      if (i === 1000) { this.client.pause(); setImmediate(this.#repump); return; }
      if (!this.step()) {
        if (this.ended && this.phase === "talk" && !this.busy) this.destroy();
        return;
      }
    }
  }

  #waitDrain = false;
  readonly #repump = (): void => {
    this.#waitDrain = false;
    if (this.phase !== "talk" || this.busy) return;
    this.client.resume();
    this.pump();
  };

  /** Run an asynchronous step: input waits (client paused), then steps continue. */
  runAsync(p: Promise<void>): void {
    this.busy = true;
    this.client.pause();
    this.stopTimer();
    p.then(this.#afterAsync, (err: unknown) => {
      this.ctx.log.error({ err }, "mail session step failed");
      this.outcome = "internal-error";
      this.destroy();
    });
  }

  readonly #afterAsync = (): void => {
    this.busy = false;
    if (this.phase !== "talk") return;
    this.armTimer(this.loginMs);
    this.client.resume();
    this.pump();
  };

  // --- output ---

  send(text: string | Buffer): void {
    const c = this.client;
    if (c.destroyed || c.writableEnded) return;
    if (typeof text === "string") c.write(text, "latin1");
    else c.write(text);
  }

  /** Send server lines (without CRLF) to the client, each with CRLF. */
  sendLines(lines: readonly Buffer[]): void {
    const parts: Buffer[] = [];
    for (const l of lines) parts.push(l, CRLF);
    if (parts.length > 0) this.send(Buffer.concat(parts));
  }

  /** A protocol error: the reply, then the too-many-errors goodbye when max_errors is reached. */
  protocolError(reply: string): void {
    this.send(reply);
    this.countError();
  }

  /** Counts one error; at max_errors (0 = no limit) says goodbye and closes. True when it closed. */
  countError(): boolean {
    this.errors++;
    if (this.plan.maxErrors > 0 && this.errors >= this.plan.maxErrors) {
      this.finishWith(this.tooManyErrorsReply(), "too-many-errors");
      return true;
    }
    return false;
  }

  // --- TLS ---

  /** Whether STARTTLS/STLS is offered now. */
  get offerTls(): boolean {
    return this.plan.tls !== null && !this.secure;
  }

  /**
   * Start TLS on the client socket. Every byte buffered from the client is discarded first (RFC 3207
   * 4.2; CVE-2011-0411): commands pipelined after STARTTLS are never executed. False when the
   * certificate cannot be loaded (logged).
   */
  upgradeTls(): boolean {
    const t = mailTls(this.plan);
    if (t === null || t instanceof Error) {
      this.ctx.log.error({ err: t === null ? "no certificate" : t.message }, "TLS unavailable on mail listener");
      return false;
    }
    this.reader.clear();
    const raw = this.client;
    raw.off("data", this.onData);
    raw.off("end", this.onEnd);
    raw.off("close", this.onClose);
    raw.pause();
    const s = wrapServerTls(raw, t);
    this.client = s;
    this.secure = true;
    s.on("data", this.onData);
    s.on("end", this.onEnd);
    s.on("error", this.onError);
    s.on("close", this.onClose);
    return true;
  }

  // --- timers ---

  armTimer(ms: number): void {
    this.stopTimer();
    this.#timer = setTimeout(this.#onTimeout, ms);
  }

  touch(): void {
    if (this.#timer !== null) this.#timer.refresh();
  }

  stopTimer(): void {
    if (this.#timer !== null) { clearTimeout(this.#timer); this.#timer = null; }
  }

  readonly #onTimeout = (): void => {
    this.#timer = null;
    if (this.phase === "talk" && !this.busy) this.finishWith(this.timeoutReply(), "timeout");
  };

  // --- endings ---

  /** Release the talking-phase upstream connection, if any. */
  dropUpstream(outcome: Outcome): void {
    const c = this.conn;
    if (c === null) return;
    this.conn = null;
    c.close(outcome, outcome === "client-aborted" ? null : this.upstreamQuit());
  }

  /** Say the last words and close the client (FIN, destroyed if it lingers). */
  finishWith(text: string, outcome: string): void {
    if (this.phase === "done") return;
    this.outcome = outcome;
    this.send(text);
    this.end();
  }

  /** Close the session cleanly (FIN to the client). */
  end(): void {
    if (this.phase === "done") return;
    this.phase = "done";
    this.stopTimer();
    this.dropUpstream("ok");
    const c = this.client;
    c.off("data", this.onData);
    c.end();
    c.setTimeout(LINGER_MS, () => c.destroy());
    this.logAccess();
    this.owner.sessions.delete(this);
  }

  /** Close the session at once. */
  destroy(): void {
    if (this.phase === "done") { this.client.destroy(); return; }
    this.phase = "done";
    this.stopTimer();
    this.dropUpstream("client-aborted");
    this.client.destroy();
    this.logAccess();
    this.owner.sessions.delete(this);
  }

  /** Graceful stop: sessions still talking to the client alone say goodbye; relays run on. */
  drain(): void {
    if (this.phase === "talk" && !this.busy) this.finishWith(this.shutdownReply(), "shutdown");
  }

  /** Deadline: goodbye where it cannot cut a reply, then close. */
  forceClose(): void {
    if (this.phase === "talk") {
      if (!this.busy) this.send(this.shutdownReply());
      this.outcome = "forced";
      this.destroy();
      return;
    }
    if (this.#relay !== null) this.#relay.destroy();
    else this.forceRelay();
  }

  /** Subclasses with their own relay (SMTP) stop it here. */
  protected forceRelay(): void { /* the pipe relay is destroyed by forceClose */ }

  // --- hand-over ---

  /**
   * The login succeeded: forward bytes already read on either side, then relay both ways (pipe.ts).
   * The session then belongs to the relay until both sides are closed.
   */
  handoff(conn: UpstreamConn): void {
    this.phase = "relay";
    this.stopTimer();
    this.conn = null;
    this.upstreamAddr = conn.lease.server.address;
    const client = this.client;
    client.pause();
    client.off("data", this.onData);
    client.off("end", this.onEnd);
    const fromServer = conn.detach();
    const fromClient = this.reader.take();
    if (fromServer.length > 0) client.write(fromServer);
    const up = conn.socket;
    if (fromClient.length > 0) up.write(fromClient);
    if (this.ended) up.end();
    const lease = conn.lease;
    this.#relay = relay(client, up, this.plan.idleTimeoutMs, (sum: RelaySummary) => {
      this.phase = "done";
      this.outcome = sum.end;
      this.bytesUp += sum.bytesUp;
      this.bytesDown += sum.bytesDown;
      lease.release(sum.end === "upstream-reset" ? "upstream-reset" : sum.end === "client-reset" ? "client-aborted" : "ok");
      this.logAccess();
      this.owner.sessions.delete(this);
    });
  }

  /** One access line per session (log.access). */
  logAccess(): void {
    if (this.#logged) return;
    this.#logged = true;
    if (this.ctx.accessLog() === null) return;
    logSessionAccess(this.ctx.log, {
      protocol: this.plan.protocol, remote_addr: this.remoteIp, upstream: this.route.pool.name,
      upstream_addr: this.upstreamAddr, outcome: this.outcome, bytes_up: this.bytesUp, bytes_down: this.bytesDown,
      connect_time: this.tConnect === null ? null : secs(this.t0, this.tConnect), session_time: secs(this.t0, performance.now()),
      tries: this.tries, user: this.user,
    });
  }
}

/** The ProtocolHandler of a mail listener: makes one session per client and tracks them for drain and stop. */
export class MailHandler implements ProtocolHandler {
  readonly ctx: ListenerContext;
  readonly sessions = new Set<MailSession>();
  readonly #make: (h: MailHandler, client: Socket) => MailSession;

  constructor(ctx: ListenerContext, make: (h: MailHandler, client: Socket) => MailSession) {
    this.ctx = ctx;
    this.#make = make;
  }

  serve(client: Socket): void {
    const s = this.#make(this, client);
    this.sessions.add(s);
    s.start();
  }

  drain(): void {
    for (const s of [...this.sessions]) s.drain();
  }

  forceClose(): void {
    for (const s of [...this.sessions]) s.forceClose();
    this.sessions.clear();
  }
}
