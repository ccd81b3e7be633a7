// Config -> RuntimePlan: every default applied here and only here (schema.ts documents them), so the
// runtime reads plain numbers and nulls and never asks "was this set?".
import { availableParallelism, hostname as osHostname } from "node:os";
import type { Address } from "../core/types.ts";
import type {
  DnsServerPlan, HealthPlan, ListenerPlan, RuntimePlan, ServerPlan, UpstreamPlan,
} from "./schema.ts";
import type { Config, HealthConfig, ListenerConfig, UpstreamConfig } from "./validate-types.ts";
import { DEFAULT_SCHEDULER } from "./validate-upstream.ts";

const S = 1000;
const MIN = 60 * S;

/** Every default in one table (units: ms and bytes). */
export const DEFAULTS = {
  workers: 1,
  shutdownTimeoutMs: 30 * S,
  adminListen: { host: "127.0.0.1", port: 9090, text: "127.0.0.1:9090" } satisfies Address,
  health: {
    intervalMs: 2 * S, timeoutMs: 1 * S, rise: 2, fall: 3, method: "GET", path: "/",
    expectLow: 200, expectHigh: 399, helo: "switchyard",
  },
  passive: { maxFails: 3, failTimeoutMs: 10 * S },
  retries: 2,
  stickyCookie: "SY",
  persistence: { timeoutMs: 300 * S, netmask: 32 },
  inactiveLingerMs: 1 * S,
  connectTimeoutMs: 5 * S,
  resolveIntervalMs: 30 * S,
  timeouts: { connectMs: 5 * S, headerMs: 30 * S, idleMs: 60 * S, upstreamResponseMs: 60 * S, bodyMs: 60 * S, sendMs: 60 * S, tunnelMs: 3600 * S },
  limits: { maxHeaderSize: 16 * 1024, maxBodySize: 10 * 1024 * 1024, maxConnections: 10_000, maxHeaders: 100 },
  idleTimeoutMs: 10 * MIN,
  maxErrors: 5,
} as const;

export function toPlan(config: Config, file: string): RuntimePlan {
  const upstreams = new Map<string, UpstreamPlan>();
  for (const u of config.upstreams) upstreams.set(u.name, upstreamPlan(u));
  return {
    file,
    workers: config.workers === "auto" ? availableParallelism() : config.workers ?? DEFAULTS.workers,
    watch: config.watch ?? false,
    shutdownTimeoutMs: config.shutdownTimeoutMs ?? DEFAULTS.shutdownTimeoutMs,
    pidFile: config.pidFile ?? null,
    log: {
      level: config.log?.level ?? "info",
      access: config.log?.access ?? true,
      accessFormat: config.log?.accessFormat ?? "json",
    },
    admin: config.admin === undefined ? null : {
      listen: config.admin.listen ?? DEFAULTS.adminListen,
      token: config.admin.token ?? null,
    },
    upstreams,
    listeners: config.listeners.map(listenerPlan),
    demo: config.demo,
  };
}

function healthPlan(h: HealthConfig | undefined): HealthPlan {
  const d = DEFAULTS.health;
  return {
    type: h?.type ?? "none",
    intervalMs: h?.intervalMs ?? d.intervalMs,
    timeoutMs: h?.timeoutMs ?? d.timeoutMs,
    rise: h?.rise ?? d.rise,
    fall: h?.fall ?? d.fall,
    method: h?.method ?? d.method,
    path: h?.path ?? d.path,
    host: h?.host ?? null,
    expectLow: h?.expect?.low ?? d.expectLow,
    expectHigh: h?.expect?.high ?? d.expectHigh,
    body: h?.body ?? null,
    user: h?.user ?? null,
    password: h?.password ?? null,
    helo: h?.helo ?? d.helo,
    port: h?.port ?? null,
  };
}

function upstreamPlan(u: UpstreamConfig): UpstreamPlan {
  const servers: ServerPlan[] = [];
  const dnsServers: DnsServerPlan[] = [];
  for (const s of u.servers) {
    const common = { weight: s.weight ?? 1, maxConns: s.maxConns ?? 0, backup: s.backup ?? false };
    if (s.kind === "static") servers.push({ address: s.address.text, host: s.address.host, port: s.address.port, ...common });
    else dnsServers.push({ kind: s.kind, name: s.name, port: s.port, ...common });
  }
  const p = u.passive;
  return {
    name: u.name,
    scheduler: u.scheduler ?? DEFAULT_SCHEDULER,
    schedFlags: u.schedFlags ?? [],
    health: healthPlan(u.health),
    passive: p === false
      ? { maxFails: 0, failTimeoutMs: DEFAULTS.passive.failTimeoutMs }
      : { maxFails: p?.maxFails ?? DEFAULTS.passive.maxFails, failTimeoutMs: p?.failTimeoutMs ?? DEFAULTS.passive.failTimeoutMs },
    retries: u.retries ?? DEFAULTS.retries,
    slowStartMs: u.slowStartMs ?? 0,
    sticky: u.sticky === undefined || u.sticky === false ? null : { cookie: u.sticky.cookie ?? DEFAULTS.stickyCookie },
    persistence: u.persistence === undefined || u.persistence === false ? null : {
      timeoutMs: u.persistence.timeoutMs ?? DEFAULTS.persistence.timeoutMs,
      netmask: u.persistence.netmask ?? DEFAULTS.persistence.netmask,
      expireQuiescent: u.persistence.expireQuiescent ?? false,
    },
    inactiveLingerMs: u.inactiveLingerMs ?? DEFAULTS.inactiveLingerMs,
    connectTimeoutMs: u.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
    servers,
    dnsServers,
    resolver: u.resolver ?? null,
    resolveIntervalMs: u.resolveIntervalMs ?? DEFAULTS.resolveIntervalMs,
    tls: u.tls === undefined || u.tls === false ? null : {
      ca: u.tls.ca ?? null,
      servername: u.tls.servername ?? null,
      verify: u.tls.verify ?? true,
    },
  };
}

function listenerPlan(l: ListenerConfig): ListenerPlan {
  const tls = l.tls === undefined || l.tls.length === 0 ? null : l.tls;
  const t = l.timeouts;
  const lim = l.limits;
  return {
    name: l.name,
    protocol: l.protocol,
    listen: l.listen,
    routes: l.routes.map((r) => ({
      match: { host: r.host ?? null, pathPrefix: r.pathPrefix ?? null },
      upstream: r.upstream,
      key: r.key ?? null,
    })),
    proxyProtocol: l.proxyProtocol ?? null,
    tls,
    // HTTPS and TLS-wrapped TCP start TLS at connect; mail listeners do so only when told (else STARTTLS)
    implicitTls: tls !== null && (l.protocol === "http" || l.protocol === "tcp" || l.implicitTls === true),
    timeouts: {
      connectMs: t?.connectMs ?? DEFAULTS.timeouts.connectMs,
      headerMs: t?.headerMs ?? DEFAULTS.timeouts.headerMs,
      idleMs: t?.idleMs ?? DEFAULTS.timeouts.idleMs,
      upstreamResponseMs: t?.upstreamResponseMs ?? DEFAULTS.timeouts.upstreamResponseMs,
      bodyMs: t?.bodyMs ?? DEFAULTS.timeouts.bodyMs,
      sendMs: t?.sendMs ?? DEFAULTS.timeouts.sendMs,
      tunnelMs: t?.tunnelMs ?? DEFAULTS.timeouts.tunnelMs,
    },
    limits: {
      maxHeaderSize: lim?.maxHeaderSize ?? DEFAULTS.limits.maxHeaderSize,
      maxBodySize: lim?.maxBodySize ?? DEFAULTS.limits.maxBodySize,
      maxConnections: lim?.maxConnections ?? DEFAULTS.limits.maxConnections,
      maxHeaders: lim?.maxHeaders ?? DEFAULTS.limits.maxHeaders,
    },
    idleTimeoutMs: l.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
    hostname: l.hostname ?? osHostname(),
    xclient: l.xclient ?? false,
    maxErrors: l.maxErrors ?? DEFAULTS.maxErrors,
    authHttp: l.authHttp ?? null,
  };
}
