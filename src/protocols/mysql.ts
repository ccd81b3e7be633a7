// MySQL/MariaDB listener (protocols.md 4.2): the server speaks first and the client's login answers the
// server's own scramble, so the pick happens at accept (key `source` or the local address, schedulers.md
// 4.1), the server is dialed at once and its greeting plus everything after it is relayed both ways.
// A client's TLS (SSLRequest, then the TLS handshake) therefore stays end-to-end.
//
// What the TCP listener lacks:
// - the greeting is read before any byte reaches the client: a server that closes, stalls or answers
//   with an ERR packet before it is tried again elsewhere (nothing was relayed yet, hardening.md M12);
// - no server, or every try failed: an ERR packet (1040) in place of the greeting, naming the pool;
//   before the handshake no capability is agreed, so it carries no SQLSTATE (MariaDB does the same);
// - at the shutdown deadline a session between two commands gets ERR 1053 (sequence 1, the answer
//   slot of the client's next command) and the server a COM_QUIT; any other session is cut.
// A server that dies mid-session closes the client: the relay passes its FIN or reset on at once.
import type { Socket } from "node:net";
import type { ListenerContext, ProtocolAdapter, ProtocolHandler } from "./adapter.ts";
import type { Lease } from "../upstream/pool.ts";
import type { ServerView } from "../upstream/server.ts";
import type { Outcome } from "../core/types.ts";
import { dial } from "../core/connect.ts";
import { connectionKey, normaliseIp } from "../core/key.ts";
import { relay, type Relay, type RelaySummary } from "./pipe.ts";
import { logSessionAccess, secs } from "../observability/access-log.ts";
import { proxyHeader } from "./proxy-protocol.ts";
import { COM_QUIT_PACKET, ER_CON_COUNT_ERROR, ER_SERVER_SHUTDOWN, SessionTracker, errPacket, firstPacket } from "./mysql-packets.ts";

/** A first packet larger than this is no greeting: the server is treated as broken. */
const GREETING_MAX = 16 * 1024;
/** How long a refused client may keep its half of the socket open after our ERR packet. */
const REFUSE_LINGER_MS = 2000;

/** The access-log fields known when the session starts. */
interface SessionBase {
  readonly protocol: string;
  readonly remote_addr: string;
  readonly upstream: string;
  readonly tries: number;
}

type Greeting =
  | { readonly kind: "ok" | "err"; readonly bytes: Buffer }
  | { readonly kind: "closed" | "timeout" | "invalid"; readonly bytes: null };

/**
 * Reads a freshly dialed server until its first packet is complete, then pauses the socket (later
 * bytes wait in it). "ok": a greeting (bytes = everything read), "err": an ERR packet (bytes = that
 * packet), else why not. Never rejects; timeoutMs bounds the wait.
 */
function readGreeting(sock: Socket, timeoutMs: number): Promise<Greeting> {
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    const settle = (g: Greeting): void => {
      clearTimeout(timer);
      sock.pause();
      sock.off("data", onData);
      sock.off("end", onEnd);
      sock.off("close", onEnd);
      if (g.kind !== "ok") sock.on("error", ignore); // destroyed by the caller
      else sock.off("error", onEnd);
      resolve(g);
    };
    const onData = (d: Buffer): void => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      if (buf.length >= 4 && buf.readUIntLE(0, 3) + 4 > GREETING_MAX) { settle({ kind: "invalid", bytes: null }); return; }
      const p = firstPacket(buf);
      if (p === null) return;
      if (p.marker === 0xff) settle({ kind: "err", bytes: buf.subarray(0, p.size) });
      else if (p.marker === 10) settle({ kind: "ok", bytes: buf });
      else settle({ kind: "invalid", bytes: null });
    };
    const onEnd = (): void => settle({ kind: "closed", bytes: null });
    const timer = setTimeout(() => settle({ kind: "timeout", bytes: null }), timeoutMs);
    sock.on("data", onData);
    sock.once("end", onEnd);
    sock.once("close", onEnd);
    sock.once("error", onEnd);
    sock.resume();
  });
}

function ignore(): void { /* errors after we gave up on a socket */ }

const GREETING_OUTCOME: Readonly<Record<Exclude<Greeting["kind"], "ok">, Outcome>> = {
  err: "upstream-rejected", closed: "upstream-reset", timeout: "upstream-timeout", invalid: "upstream-rejected",
};
const GREETING_TEXT: Readonly<Record<Exclude<Greeting["kind"], "ok">, string>> = {
  err: "answered with an ERR packet", closed: "closed before its greeting", timeout: "sent no greeting in time", invalid: "sent no MySQL greeting",
};

/** One relayed session: sockets, lease and the tracker that says whether it is between commands. */
class MysqlSession {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly lease: Lease;
  readonly tracker = new SessionTracker();
  relay: Relay | null = null;
  /** Closed by us at the deadline with an ERR packet (outcome "shutdown"). */
  politeClose = false;
  readonly onClientData: (b: Buffer) => void;
  readonly onServerData: (b: Buffer) => void;
  constructor(client: Socket, upstream: Socket, lease: Lease) {
    this.client = client;
    this.upstream = upstream;
    this.lease = lease;
    this.onClientData = this.tracker.feedClient.bind(this.tracker);
    this.onServerData = this.tracker.feedServer.bind(this.tracker);
  }
}

/** Ends a session at the deadline: ERR 1053 + COM_QUIT when it sits between commands, else a cut. */
function closeAtDeadline(s: MysqlSession): void {
  if (s.politeClose) return;
  if (!s.tracker.idle) { s.relay?.destroy(); return; }
  s.politeClose = true;
  s.upstream.unpipe(s.client);
  s.client.unpipe(s.upstream);
  const err = errPacket(1, ER_SERVER_SHUTDOWN, "switchyard: shutting down, connection closed between commands", s.tracker.protocol41 ? "08S01" : null);
  s.client.end(err);
  s.client.resume();
  s.upstream.end(COM_QUIT_PACKET);
  s.upstream.resume();
}

/** ERR packet in place of the greeting (or the server's own refusal), then FIN; the socket goes when the client leaves. */
function refuse(client: Socket, packet: Buffer): void {
  client.on("data", ignore);
  client.resume();
  client.setTimeout(REFUSE_LINGER_MS, () => client.destroy());
  client.end(packet);
}

class MysqlHandler implements ProtocolHandler {
  readonly #ctx: ListenerContext;
  readonly #open = new Set<MysqlSession>();
  constructor(ctx: ListenerContext) { this.#ctx = ctx; }

  serve(client: Socket): void {
    this.#session(client).catch((err: unknown) => {
      // a bug, not a runtime outcome: keep the process, drop this one client
      this.#ctx.log.error({ err }, "mysql session failed");
      client.destroy();
    });
  }

  async #session(client: Socket): Promise<void> {
    const t0 = performance.now();
    const ctx = this.#ctx;
    const { plan, routes } = ctx.current();
    const route = routes.first;
    const pool = route.pool;
    const remote = normaliseIp(client.remoteAddress);
    const local = normaliseIp(client.localAddress);
    let gone = false;
    client.on("error", () => { gone = true; });
    client.once("close", () => { gone = true; });
    client.pause();
    const cancelled = (): boolean => gone;
    const access = ctx.accessLog() !== null;
    if (ctx.draining()) {
      refuse(client, errPacket(0, ER_SERVER_SHUTDOWN, "switchyard: shutting down", null));
      if (access) logSessionAccess(ctx.log, { protocol: plan.protocol, remote_addr: remote, upstream: pool.name, tries: 0, upstream_addr: null, outcome: "shutdown", bytes_up: 0, bytes_down: 0, connect_time: null, session_time: secs(t0, performance.now()) });
      return;
    }
    const preamble = plan.proxyProtocol === null ? null : proxyHeader(plan.proxyProtocol, client);
    const key = connectionKey(route.key, remote, local);
    let tried: Set<ServerView> | null = null;
    let spent = 0;
    let rejection: Buffer | null = null; // the last server's own ERR greeting, relayed if no other server answers
    let detail = "";
    for (;;) {
      const r = await dial(route, { key, clientPort: client.remotePort ?? 0, preamble, cancelled, exclude: tried, triesSpent: spent });
      if (!r.ok) {
        const tries = Math.max(r.tries, spent);
        const reason = rejection !== null ? "upstream-rejected" : r.reason;
        if (r.detail !== "") detail = r.detail;
        if (gone) return; // the client left while we dialed: nobody to tell
        refuse(client, rejection ?? errPacket(0, ER_CON_COUNT_ERROR, `switchyard: no server available in upstream "${pool.name}"`, null));
        ctx.log.warn({ remote_addr: remote, upstream: pool.name, reason, detail, tries }, `refusing client: ${detail}`);
        if (access) logSessionAccess(ctx.log, { protocol: plan.protocol, remote_addr: remote, upstream: pool.name, tries, upstream_addr: null, outcome: reason, bytes_up: 0, bytes_down: 0, connect_time: null, session_time: secs(t0, performance.now()) });
        return;
      }
      const g = await readGreeting(r.socket, pool.plan.connectTimeoutMs);
      if (g.kind === "ok" && !gone) {
        this.#relay(client, r.socket, r.lease, g.bytes, plan.idleTimeoutMs, { protocol: plan.protocol, remote_addr: remote, upstream: pool.name, tries: r.tries }, t0);
        return;
      }
      r.socket.destroy();
      if (g.kind === "ok") { r.lease.release("client-aborted"); return; }
      r.lease.release(GREETING_OUTCOME[g.kind]);
      detail = `${r.lease.server.address}: ${GREETING_TEXT[g.kind]}`;
      ctx.log.warn({ upstream: pool.name, server: r.lease.server.address, reason: GREETING_OUTCOME[g.kind] }, `giving up on server ${detail}`);
      if (g.kind === "err") rejection = Buffer.from(g.bytes);
      spent = r.tries;
      (tried ??= new Set()).add(r.lease.server);
      if (gone) return;
    }
  }

  /** Relay phase: the greeting first, then both directions piped, each chunk also shown to the tracker. */
  #relay(client: Socket, upstream: Socket, lease: Lease, greeting: Buffer, idleMs: number, base: SessionBase, t0: number): void {
    const ctx = this.#ctx;
    const tConnect = performance.now();
    const s = new MysqlSession(client, upstream, lease);
    s.tracker.feedServer(greeting);
    client.write(greeting);
    client.on("data", s.onClientData);
    upstream.on("data", s.onServerData);
    s.relay = relay(client, upstream, idleMs, (sum: RelaySummary) => {
      this.#open.delete(s);
      lease.release(s.politeClose ? "ok" : sum.end === "upstream-reset" ? "upstream-reset" : sum.end === "client-reset" ? "client-aborted" : "ok");
      if (ctx.accessLog() !== null) {
        logSessionAccess(ctx.log, {
          ...base, upstream_addr: lease.server.address, outcome: s.politeClose ? "shutdown" : sum.end, bytes_up: sum.bytesUp, bytes_down: sum.bytesDown + greeting.length,
          connect_time: secs(t0, tConnect), session_time: secs(t0, performance.now()),
        });
      }
    });
    this.#open.add(s);
  }

  drain(): void { /* sessions keep running until they end or the deadline (forceClose) */ }

  forceClose(): void {
    for (const s of this.#open) closeAtDeadline(s);
  }
}

export const mysql: ProtocolAdapter = {
  protocol: "mysql",
  keys: ["source", "destination"],
  create: (ctx) => new MysqlHandler(ctx),
};
