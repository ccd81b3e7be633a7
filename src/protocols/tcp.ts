// TCP listener: pick and dial at accept (server-speaks-first protocols work), then relay both ways.
// No server: close with a logged reason (raw TCP has no way to say why).
// Per connection: no getpeername/getsockname unless a key, persistence or a log line needs the address;
// the upstream socket is dialed for the relay's onread path (pipe.ts); the access line is built only when on.
import type { Socket } from "node:net";
import type { ListenerContext, ProtocolAdapter, ProtocolHandler } from "./adapter.ts";
import { dial } from "../core/connect.ts";
import { connectionKey, normaliseIp } from "../core/key.ts";
import { relay, type Relay, type RelaySummary } from "./pipe.ts";
import { logSessionAccess, secs } from "../observability/access-log.ts";
import { proxyHeader } from "./proxy-protocol.ts";
import type { Lease } from "../upstream/pool.ts";

/** Keeps an 'error' during the dial from being unhandled; the relay adds its own handlers after. */
function ignore(): void { /* the dial's cancelled() sees client.destroyed */ }

/** One relayed session: what its end needs (access line, lease). */
class TcpSession {
  readonly handler: TcpHandler;
  readonly lease: Lease;
  readonly protocol: string;
  readonly upstream: string;
  /** The client address when it was read at accept (key, persistence, access log on), else null. */
  readonly remote: string | null;
  readonly tries: number;
  readonly t0: number;
  readonly tConnect: number;
  relay: Relay | null = null;
  constructor(handler: TcpHandler, lease: Lease, protocol: string, upstream: string, remote: string | null, tries: number, t0: number, tConnect: number) {
    this.handler = handler;
    this.lease = lease;
    this.protocol = protocol;
    this.upstream = upstream;
    this.remote = remote;
    this.tries = tries;
    this.t0 = t0;
    this.tConnect = tConnect;
  }
  readonly done = (sum: RelaySummary): void => { this.handler.ended(this, sum); };
}

class TcpHandler implements ProtocolHandler {
  readonly #ctx: ListenerContext;
  readonly #open = new Set<TcpSession>();
  constructor(ctx: ListenerContext) { this.#ctx = ctx; }

  serve(client: Socket): void {
    void this.#session(client);
  }

  async #session(client: Socket): Promise<void> {
    const t0 = performance.now();
    const ctx = this.#ctx;
    const { plan, routes } = ctx.current();
    const route = routes.first;
    const pool = route.pool;
    const access = ctx.accessLog() !== null;
    // the client address costs a syscall: read it only for a key, persistence templates or the access line
    const needRemote = route.key === "source" || pool.plan.persistence !== null || access;
    const remote = needRemote ? normaliseIp(client.remoteAddress) : null;
    const key = route.key === null ? null : connectionKey(route.key, remote ?? "", route.key === "destination" ? normaliseIp(client.localAddress) : "");
    // the source port matters only to the hashing schedulers (sh-port, mh-port), which always have a key
    const clientPort = route.key === null ? 0 : client.remotePort ?? 0;
    client.on("error", ignore);
    const preamble = plan.proxyProtocol === null ? null : proxyHeader(plan.proxyProtocol, client);
    const r = await dial(route, { key, clientPort, clientIp: remote, preamble, cancelled: () => client.destroyed, relayed: true });
    if (!r.ok) {
      const ip = remote ?? normaliseIp(client.remoteAddress);
      ctx.log.warn({ listener: plan.name, remote_addr: ip, upstream: pool.name, reason: r.reason, detail: r.detail }, `closing client: ${r.detail}`);
      if (access) logSessionAccess(ctx.log, { protocol: plan.protocol, remote_addr: ip, upstream: pool.name, tries: r.tries, upstream_addr: null, outcome: r.reason, bytes_up: 0, bytes_down: 0, connect_time: null, session_time: secs(t0, performance.now()) });
      client.destroy();
      return;
    }
    const s = new TcpSession(this, r.lease, plan.protocol, pool.name, remote, r.tries, t0, performance.now());
    this.#open.add(s);
    s.relay = relay(client, r.socket, plan.idleTimeoutMs, s.done, true);
  }

  /** A session's relay finished: give the server back, write the access line. */
  ended(s: TcpSession, sum: RelaySummary): void {
    this.#open.delete(s);
    const lease = s.lease;
    lease.release(sum.end === "upstream-reset" ? "upstream-reset" : sum.end === "client-reset" ? "client-aborted" : "ok");
    const ctx = this.#ctx;
    if (ctx.accessLog() === null) return;
    logSessionAccess(ctx.log, {
      protocol: s.protocol, remote_addr: s.remote ?? "", upstream: s.upstream, tries: s.tries,
      upstream_addr: lease.server.address, outcome: sum.end, bytes_up: sum.bytesUp, bytes_down: sum.bytesDown,
      connect_time: secs(s.t0, s.tConnect), session_time: secs(s.t0, performance.now()),
    });
  }

  drain(): void { /* raw TCP has no goodbye: sessions run until they end or the deadline */ }

  forceClose(): void {
    for (const s of this.#open) s.relay?.destroy();
    this.#open.clear();
  }
}

export const tcp: ProtocolAdapter = {
  protocol: "tcp",
  keys: ["source", "destination"],
  create: (ctx) => new TcpHandler(ctx),
};
