// TCP listener: pick and dial at accept (server-speaks-first protocols work), then relay both ways.
// No server: close with a logged reason (raw TCP has no way to say why).
import type { Socket } from "node:net";
import type { ListenerContext, ProtocolAdapter, ProtocolHandler } from "./adapter.ts";
import { dial } from "../core/connect.ts";
import { connectionKey, normaliseIp } from "../core/key.ts";
import { relay, type Relay } from "./pipe.ts";
import { logSessionAccess, secs } from "../observability/access-log.ts";
import { proxyHeader } from "./proxy-protocol.ts";

class TcpHandler implements ProtocolHandler {
  readonly #ctx: ListenerContext;
  readonly #open = new Set<Relay>();
  constructor(ctx: ListenerContext) { this.#ctx = ctx; }

  serve(client: Socket): void {
    void this.#session(client);
  }

  async #session(client: Socket): Promise<void> {
    const t0 = performance.now();
    const ctx = this.#ctx;
    const { plan, routes } = ctx.current();
    const route = routes.first;
    const remote = normaliseIp(client.remoteAddress);
    const local = normaliseIp(client.localAddress);
    let gone = false;
    client.on("error", () => { gone = true; });
    client.once("close", () => { gone = true; });
    client.pause();
    const preamble = plan.proxyProtocol === null ? null : proxyHeader(plan.proxyProtocol, client);
    const r = await dial(route, { key: connectionKey(route.key, remote, local), clientPort: client.remotePort ?? 0, clientIp: remote, preamble, cancelled: () => gone });
    const base = { protocol: plan.protocol, remote_addr: remote, upstream: route.pool.name, tries: r.tries };
    if (!r.ok) {
      ctx.log.warn({ listener: plan.name, remote_addr: remote, upstream: route.pool.name, reason: r.reason, detail: r.detail }, `closing client: ${r.detail}`);
      if (ctx.accessLog() !== null) logSessionAccess(ctx.log, { ...base, upstream_addr: null, outcome: r.reason, bytes_up: 0, bytes_down: 0, connect_time: null, session_time: secs(t0, performance.now()) });
      client.destroy();
      return;
    }
    const tConnect = performance.now();
    const upstream = r.socket;
    const lease = r.lease;
    client.resume();
    const rl = relay(client, upstream, plan.idleTimeoutMs, (sum) => {
      this.#open.delete(rl);
      lease.release(sum.end === "upstream-reset" ? "upstream-reset" : sum.end === "client-reset" ? "client-aborted" : "ok");
      if (ctx.accessLog() !== null) {
        logSessionAccess(ctx.log, { ...base, upstream_addr: lease.server.address, outcome: sum.end, bytes_up: sum.bytesUp, bytes_down: sum.bytesDown, connect_time: secs(t0, tConnect), session_time: secs(t0, performance.now()) });
      }
    });
    this.#open.add(rl);
  }

  drain(): void { /* raw TCP has no goodbye: sessions run until they end or the deadline */ }

  forceClose(): void {
    for (const r of this.#open) r.destroy();
    this.#open.clear();
  }
}

export const tcp: ProtocolAdapter = {
  protocol: "tcp",
  keys: ["source", "destination"],
  create: (ctx) => new TcpHandler(ctx),
};
