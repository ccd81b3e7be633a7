// Validation of one `upstreams.NAME` block: scheduler (from the registry), sched_flags, health,
// passive, stickiness, persistence, DNS discovery, upstream TLS and the server list.
import { fs } from "../core/builtins.ts";
import type { HealthType } from "./schema.ts";
import { healthTypeNames } from "../health/index.ts";
import { getScheduler, schedulerFlags, schedulers } from "../schedulers/index.ts";
import { isHostname, PEER_ADDRESS, type AddressOptions } from "./units.ts";
import { didYouMean, Reader, type Fields } from "./validate-read.ts";
import { joinPath, type Pos, type YNode } from "./validate-tree.ts";
import type { HealthConfig, ServerConfig, UpstreamConfig } from "./validate-types.ts";

export const DEFAULT_SCHEDULER = "wlc";

/** Valid health.type keywords come from the check registry ("none" first). */
const HEALTH_TYPES: readonly HealthType[] = healthTypeNames;

/** Every ipvsadm -b flag name some registered scheduler reads. */
function allFlags(): string[] {
  return [...new Set(Object.values(schedulerFlags).flat())];
}

const UPSTREAM_KEYS = [
  "scheduler", "sched_flags", "health", "passive", "retries", "slow_start", "sticky", "persistence",
  "inactive_linger", "connect_timeout", "resolver", "resolve_interval", "tls", "servers",
] as const;

const HEALTH_COMMON = ["type", "interval", "timeout", "rise", "fall", "port"];
/** Keys only some check types read; any other type given one is an error, not a silent no-op. */
const HEALTH_ONLY: Readonly<Record<string, readonly HealthType[]>> = {
  path: ["http"], method: ["http"], host: ["http"], expect: ["http"], body: ["http"],
  user: ["mysql"], password: ["mysql"], helo: ["smtp"],
};

const SERVER_KEYS = ["address", "dns", "srv", "port", "weight", "max_conns", "backup"];
const RESOLVER_ADDRESS: AddressOptions = { allowAnyHost: false, allowPortZero: false, defaultPort: 53 };

/** RFC 6265 cookie-name / RFC 9110 token characters. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
export const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** Reports a file that this process cannot read (certificates, CA bundles), so -t catches it. */
export function checkReadable(r: Reader, path: string, pos: Pos, file: string): void {
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch (err) {
    const code = err instanceof Error && "code" in err ? String(err.code) : "unreadable";
    r.error(path, pos, `cannot read file "${file}" (${code})`);
  }
}

export function validateUpstream(r: Reader, name: string, namePos: Pos, node: YNode, path: string): UpstreamConfig {
  if (!NAME.test(name)) r.error(path, namePos, `"${name}" is not a valid upstream name (letters, digits, _ . -)`);
  const f = r.fields(node, path, UPSTREAM_KEYS, "an upstream block (scheduler, servers, ...)");
  if (f === null) return { name, servers: [] };

  let scheduler: string | undefined;
  const schedNode = f.get("scheduler");
  if (schedNode !== undefined) {
    const s = r.str(schedNode, f.at("scheduler"));
    if (s !== undefined) {
      if (getScheduler(s) === null) {
        const known = Object.keys(schedulers);
        r.error(f.at("scheduler"), schedNode.pos, `unknown scheduler "${s}"${didYouMean(s, known)}; known: ${known.join(", ")}`);
      } else {
        scheduler = s;
      }
    }
  } else if (getScheduler(DEFAULT_SCHEDULER) === null) {
    // the default must exist too; this only fires while the registry is incomplete
    r.error(f.at("scheduler"), f.map.pos, `the default scheduler ${DEFAULT_SCHEDULER} is not available; name one of: ${Object.keys(schedulers).join(", ")}`);
  }
  const schedName = schedNode === undefined ? DEFAULT_SCHEDULER : scheduler;

  const servers = serverList(r, f);
  const hasDns = servers.some((s) => s.kind !== "static");
  return {
    name,
    scheduler,
    schedFlags: schedFlags(r, f, schedName),
    health: health(r, f),
    passive: passive(r, f),
    retries: f.int("retries", 0, 100),
    slowStartMs: f.duration("slow_start"),
    sticky: sticky(r, f),
    persistence: persistence(r, f),
    inactiveLingerMs: f.duration("inactive_linger"),
    connectTimeoutMs: f.duration("connect_timeout", 1),
    resolver: f.address("resolver", RESOLVER_ADDRESS),
    resolveIntervalMs: hasDns || f.has("resolve_interval") ? f.duration("resolve_interval", 1) : undefined,
    tls: upstreamTls(r, f),
    servers,
  };
}

function schedFlags(r: Reader, f: Fields, scheduler: string | undefined): readonly string[] | undefined {
  const node = f.get("sched_flags");
  if (node === undefined) return undefined;
  const path = f.at("sched_flags");
  // a list, or ipvsadm's own spelling "sh-fallback,sh-port"
  const items: { text: string | undefined; pos: Pos; path: string }[] = [];
  if (node.kind === "seq") {
    node.items.forEach((n, i) => items.push({ text: r.str(n, `${path}[${i}]`), pos: n.pos, path: `${path}[${i}]` }));
  } else {
    const s = r.str(node, path);
    if (s !== undefined) for (const part of s.split(",")) items.push({ text: part.trim(), pos: node.pos, path });
  }
  const out: string[] = [];
  const known = allFlags();
  for (const it of items) {
    if (it.text === undefined) continue;
    const flag = it.text;
    if (!known.includes(flag)) {
      r.error(it.path, it.pos, `unknown scheduler flag "${flag}"${didYouMean(flag, known)}; known: ${known.join(", ")}`);
      continue;
    }
    if (scheduler !== undefined && !(schedulerFlags[scheduler] ?? []).includes(flag)) {
      const owners = Object.keys(schedulerFlags).filter((s) => schedulerFlags[s].includes(flag));
      r.error(it.path, it.pos, `${flag} applies only to scheduler ${owners.join(", ")}, not ${scheduler}`);
      continue;
    }
    if (!out.includes(flag)) out.push(flag);
  }
  return out;
}

function health(r: Reader, f: Fields): HealthConfig | undefined {
  const node = f.get("health");
  if (node === undefined) return undefined;
  const path = f.at("health");
  // "health: tcp" is short for "health: { type: tcp }"
  if (node.kind === "scalar") {
    const type = r.oneOf(node, joinPath(path, "type"), HEALTH_TYPES);
    return type === undefined ? undefined : { type };
  }
  const h = r.fields(node, path, [...HEALTH_COMMON, ...Object.keys(HEALTH_ONLY)], "a health block ({ type: http, path: / })");
  if (h === null) return undefined;
  // a health block without a type probes with a TCP connect
  const type = h.has("type") ? h.oneOf("type", HEALTH_TYPES) : "tcp";
  if (type === undefined) return undefined;
  for (const [key, types] of Object.entries(HEALTH_ONLY)) {
    if (!types.includes(type)) h.refuse(key, `${key} applies only to health type ${types.join(", ")}, not ${type}`);
  }
  const pathValue = h.str("path");
  if (pathValue !== undefined && !/^\/[^\s]*$/.test(pathValue)) {
    r.error(h.at("path"), h.pos("path"), `"${pathValue}" is not a request path: it starts with "/" and has no spaces`);
  }
  const method = h.str("method");
  if (method !== undefined && !TOKEN.test(method)) r.error(h.at("method"), h.pos("method"), `"${method}" is not an HTTP method`);
  const host = h.str("host");
  if (host !== undefined && !/^[^\s/]+$/.test(host)) r.error(h.at("host"), h.pos("host"), `"${host}" is not a Host header value`);
  const helo = h.str("helo");
  if (helo !== undefined && !isHostname(helo)) r.error(h.at("helo"), h.pos("helo"), `"${helo}" is not a host name`);
  const interval = h.duration("interval", 1);
  return {
    type,
    intervalMs: interval,
    timeoutMs: h.duration("timeout", 1),
    rise: h.int("rise", 1, 1000),
    fall: h.int("fall", 1, 1000),
    method: method?.toUpperCase(),
    path: pathValue,
    host,
    expect: expect(r, h),
    body: h.str("body"),
    user: h.str("user"),
    password: h.str("password"),
    helo,
    port: h.int("port", 1, 65535),
  };
}

/** expect: 200, "200", "200-399" or "2xx" (inclusive status range). */
function expect(r: Reader, h: Fields): { low: number; high: number } | undefined {
  const node = h.get("expect");
  if (node === undefined) return undefined;
  const path = h.at("expect");
  const text = node.kind === "scalar" && (typeof node.value === "number" || typeof node.value === "string") ? String(node.value).trim() : null;
  let range: { low: number; high: number } | null = null;
  if (text !== null) {
    let m = /^(\d{3})$/.exec(text);
    if (m !== null) range = { low: Number(m[1]), high: Number(m[1]) };
    m = /^(\d{3})\s*-\s*(\d{3})$/.exec(text);
    if (m !== null) range = { low: Number(m[1]), high: Number(m[2]) };
    m = /^([1-5])xx$/i.exec(text);
    if (m !== null) range = { low: Number(m[1]) * 100, high: Number(m[1]) * 100 + 99 };
  }
  if (range === null) {
    r.error(path, node.pos, `expected a status or range (200, 200-399, 2xx), got ${text === null ? "a " + node.kind : `"${text}"`}`);
    return undefined;
  }
  if (range.low < 100 || range.high > 599 || range.low > range.high) {
    r.error(path, node.pos, `"${text}" is not a status range within 100-599`);
    return undefined;
  }
  return range;
}

function passive(r: Reader, f: Fields): UpstreamConfig["passive"] {
  const node = f.get("passive");
  if (node === undefined) return undefined;
  if (node.kind === "scalar") {
    const on = r.bool(node, f.at("passive"));
    return on === false ? false : undefined;
  }
  const p = r.fields(node, f.at("passive"), ["max_fails", "fail_timeout"]);
  if (p === null) return undefined;
  return { maxFails: p.int("max_fails", 0, 1_000_000), failTimeoutMs: p.duration("fail_timeout", 1) };
}

function sticky(r: Reader, f: Fields): UpstreamConfig["sticky"] {
  const node = f.get("sticky");
  if (node === undefined) return undefined;
  if (node.kind === "scalar") {
    const on = r.bool(node, f.at("sticky"));
    return on === true ? {} : on === false ? false : undefined;
  }
  const s = r.fields(node, f.at("sticky"), ["cookie"]);
  if (s === null) return undefined;
  const cookie = s.str("cookie");
  if (cookie !== undefined && !TOKEN.test(cookie)) {
    r.error(s.at("cookie"), s.pos("cookie"), `"${cookie}" is not a cookie name (letters, digits and !#$%&'*+-.^_\`|~)`);
    return { };
  }
  return { cookie };
}

function persistence(r: Reader, f: Fields): UpstreamConfig["persistence"] {
  const node = f.get("persistence");
  if (node === undefined) return undefined;
  if (node.kind === "scalar") {
    const on = r.bool(node, f.at("persistence"));
    return on === true ? {} : on === false ? false : undefined;
  }
  const p = r.fields(node, f.at("persistence"), ["timeout", "netmask", "expire_quiescent"]);
  if (p === null) return undefined;
  return { timeoutMs: p.duration("timeout", 1), netmask: netmask(r, p), expireQuiescent: p.bool("expire_quiescent") };
}

/** A prefix length 0..128, or an IPv4 dotted mask as ipvsadm -M takes it ("255.255.255.0" = 24). */
function netmask(r: Reader, p: Fields): number | undefined {
  const node = p.get("netmask");
  if (node === undefined) return undefined;
  if (node.kind === "scalar" && typeof node.value === "string" && node.value.includes(".")) {
    const parts = node.value.split(".");
    const bytes = parts.map((x) => (/^\d{1,3}$/.test(x) ? Number(x) : -1));
    if (parts.length === 4 && bytes.every((b) => b >= 0 && b <= 255)) {
      const bits = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
      const len = 32 - Math.log2(((~bits) >>> 0) + 1);
      if (Number.isInteger(len)) return len;
    }
    r.error(p.at("netmask"), node.pos, `"${node.value}" is not a netmask (a prefix length such as 24, or 255.255.255.0)`);
    return undefined;
  }
  return r.int(node, p.at("netmask"), 0, 128);
}

function upstreamTls(r: Reader, f: Fields): UpstreamConfig["tls"] {
  const node = f.get("tls");
  if (node === undefined) return undefined;
  if (node.kind === "scalar") {
    const on = r.bool(node, f.at("tls"));
    return on === true ? {} : on === false ? false : undefined;
  }
  const t = r.fields(node, f.at("tls"), ["ca", "servername", "verify"]);
  if (t === null) return undefined;
  const ca = t.str("ca");
  if (ca !== undefined) checkReadable(r, t.at("ca"), t.pos("ca"), ca);
  const servername = t.str("servername");
  if (servername !== undefined && !isHostname(servername)) r.error(t.at("servername"), t.pos("servername"), `"${servername}" is not a host name`);
  return { ca, servername, verify: t.bool("verify") };
}

function serverList(r: Reader, f: Fields): ServerConfig[] {
  if (!f.require("servers", "the list of servers ({ address: host:port }, { dns: name, port: N } or { srv: name })")) return [];
  const node = f.get("servers");
  if (node === undefined) return [];
  const items = r.list(node, f.at("servers"), "a list of servers");
  if (items === undefined) return [];
  if (items.length === 0) r.error(f.at("servers"), node.pos, "an upstream needs at least one server");
  const out: ServerConfig[] = [];
  const seen = new Map<string, string>();
  items.forEach((item, i) => {
    const path = `${f.at("servers")}[${i}]`;
    const s = server(r, item, path);
    if (s === undefined) return;
    const id = s.kind === "static" ? s.address.text : `${s.kind} ${s.name}:${s.port}`;
    const first = seen.get(id);
    if (first !== undefined) {
      r.error(path, item.pos, `duplicate server ${s.kind === "static" ? s.address.text : s.name} (also ${first})`);
      return;
    }
    seen.set(id, path);
    out.push(s);
  });
  return out;
}

function server(r: Reader, node: YNode, path: string): ServerConfig | undefined {
  // "- 127.0.0.1:9001" is short for "- { address: 127.0.0.1:9001 }"
  if (node.kind === "scalar") {
    const address = r.address(node, path, PEER_ADDRESS);
    return address === undefined ? undefined : { kind: "static", address };
  }
  const s = r.fields(node, path, SERVER_KEYS, "a server ({ address: host:port })");
  if (s === null) return undefined;
  const given = (["address", "dns", "srv"] as const).filter((k) => s.has(k));
  if (given.length !== 1) {
    r.error(path, node.pos, given.length === 0
      ? "a server needs one of address (host:port), dns (a name to resolve, with port) or srv (a SRV name)"
      : `a server takes only one of address, dns, srv (got ${given.join(" and ")})`);
    return undefined;
  }
  const weight = s.int("weight", 0, 65535);
  const maxConns = s.int("max_conns", 0, 1_000_000_000);
  const backup = s.bool("backup");
  const kind = given[0];
  if (kind === "address") {
    s.refuse("port", "port is part of address (host:port)");
    const address = s.address("address", PEER_ADDRESS);
    return address === undefined ? undefined : { kind: "static", address, weight, maxConns, backup };
  }
  const name = s.str(kind);
  if (name !== undefined && !isHostname(name)) r.error(s.at(kind), s.pos(kind), `"${name}" is not a DNS name`);
  if (kind === "srv") {
    s.refuse("port", "an SRV record gives the port itself; remove port");
    return name === undefined ? undefined : { kind: "srv", name, port: 0, weight, maxConns, backup };
  }
  if (!s.require("port", "the port to connect to on every address the name resolves to")) return undefined;
  const port = s.int("port", 1, 65535);
  return name === undefined || port === undefined ? undefined : { kind: "dns", name, port, weight, maxConns, backup };
}
