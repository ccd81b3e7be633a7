// Validation of one `listeners[i]` entry: protocol, address, routes or upstream, the scheduler key
// (only keys the protocol can produce: schedulers.md 4.1), TLS, timeouts, limits and mail options.
import type { KeyKind, ProtocolName } from "../core/types.ts";
import type { TlsCertPlan } from "./schema.ts";
import { isHostname, LISTEN_ADDRESS } from "./units.ts";
import { didYouMean, Reader, type Fields } from "./validate-read.ts";
import { checkReadable, NAME, TOKEN } from "./validate-upstream.ts";
import type { YNode } from "./validate-tree.ts";
import type { ListenerConfig, RouteConfig } from "./validate-types.ts";

export const PROTOCOLS: readonly ProtocolName[] = ["http", "tcp", "mysql", "smtp", "pop3", "imap"];
const MAIL: readonly ProtocolName[] = ["smtp", "pop3", "imap"];

/** Keys each protocol can derive (schedulers.md 4.1). "header:" etc. stand for "header:NAME". */
export const PROTOCOL_KEYS: Readonly<Record<ProtocolName, readonly string[]>> = {
  http: ["source", "destination", "host", "path", "uri", "header:", "cookie:", "query:"],
  tcp: ["source", "destination"],
  mysql: ["source", "destination"],
  smtp: ["source", "destination", "rcpt_domain"],
  pop3: ["source", "destination", "user"],
  imap: ["source", "destination", "user"],
};
const ALL_KEYS = ["source", "destination", "host", "path", "uri", "user", "rcpt_domain", "header:", "cookie:", "query:"];

const LISTENER_KEYS = [
  "name", "protocol", "listen", "upstream", "key", "routes", "proxy_protocol", "tls", "implicit_tls",
  "timeouts", "limits", "idle_timeout", "hostname", "xclient", "max_errors", "auth_http",
];
/** Keys that only some protocols take; the rest of LISTENER_KEYS apply to all. */
const ONLY: Readonly<Record<string, readonly ProtocolName[]>> = {
  routes: ["http"],
  timeouts: ["http"],
  idle_timeout: ["tcp", "mysql", ...MAIL],
  tls: ["http", "tcp", ...MAIL],
  implicit_tls: MAIL,
  hostname: MAIL,
  max_errors: MAIL,
  auth_http: MAIL,
  xclient: ["smtp"],
};

function keyList(protocol: ProtocolName): string {
  return PROTOCOL_KEYS[protocol].map((k) => (k.endsWith(":") ? `${k}NAME` : k)).join(", ");
}

/** Parses and checks a scheduler key for a protocol; header names are lower-cased (they are case-insensitive). */
export function validateKey(r: Reader, node: YNode, path: string, protocol: ProtocolName | undefined): KeyKind | undefined {
  const text = r.str(node, path);
  if (text === undefined) return undefined;
  const colon = text.indexOf(":");
  const base = colon < 0 ? text : text.slice(0, colon + 1);
  const arg = colon < 0 ? "" : text.slice(colon + 1);
  if (!ALL_KEYS.includes(base)) {
    r.error(path, node.pos, `unknown key "${text}"${didYouMean(base, ALL_KEYS.filter((k) => !k.endsWith(":")))}; keys: ${ALL_KEYS.map((k) => (k.endsWith(":") ? `${k}NAME` : k)).join(", ")}`);
    return undefined;
  }
  if (base.endsWith(":")) {
    const nameOk = base === "query:" ? /^[^\s&=#]+$/.test(arg) : TOKEN.test(arg);
    if (!nameOk) {
      r.error(path, node.pos, `"${text}" needs a ${base.slice(0, -1)} name after the colon, e.g. ${base}x-user-id`);
      return undefined;
    }
  }
  if (protocol !== undefined && !PROTOCOL_KEYS[protocol].includes(base)) {
    r.error(path, node.pos, `key "${text}" is not available on ${protocol} listeners; ${protocol} can use: ${keyList(protocol)}`);
    return undefined;
  }
  return toKeyKind(base, arg);
}

function toKeyKind(base: string, arg: string): KeyKind | undefined {
  switch (base) {
    case "source": case "destination": case "host": case "path": case "uri": case "user": case "rcpt_domain":
      return base;
    case "header:": return `header:${arg.toLowerCase()}`;
    case "cookie:": return `cookie:${arg}`;
    case "query:": return `query:${arg}`;
    default: return undefined;
  }
}

export function validateListener(r: Reader, node: YNode, path: string, index: number, upstreams: ReadonlySet<string>): ListenerConfig | undefined {
  const f = r.fields(node, path, LISTENER_KEYS, "a listener ({ name, protocol, listen, upstream })");
  if (f === null) return undefined;
  const protocol = f.require("protocol", PROTOCOLS.join(" | ")) ? f.oneOf("protocol", PROTOCOLS) : undefined;
  const listen = f.require("listen", "the address to listen on (host:port, [::1]:port or :port)") ? f.address("listen", LISTEN_ADDRESS) : undefined;
  const name = f.str("name");
  if (name !== undefined && !NAME.test(name)) r.error(f.at("name"), f.pos("name"), `"${name}" is not a valid listener name (letters, digits, _ . -)`);

  if (protocol !== undefined) {
    for (const [key, protocols] of Object.entries(ONLY)) {
      if (!protocols.includes(protocol)) f.refuse(key, `${key} applies only to ${protocols.join(", ")} listeners, not ${protocol}`);
    }
  }
  const routes = routeList(r, f, protocol, upstreams);
  const tls = protocol === "mysql" ? undefined : listenerTls(r, f);
  const implicitTls = f.bool("implicit_tls");
  if (implicitTls === true && tls === undefined && !f.has("tls") && protocol !== undefined && MAIL.includes(protocol)) {
    r.error(f.at("implicit_tls"), f.pos("implicit_tls"), "implicit_tls needs tls: { cert, key }");
  }
  const hostname = f.str("hostname");
  if (hostname !== undefined && !isHostname(hostname)) r.error(f.at("hostname"), f.pos("hostname"), `"${hostname}" is not a host name`);
  const authHttp = f.str("auth_http");
  if (authHttp !== undefined && !/^http:\/\/[^\s/]+(\/\S*)?$/.test(authHttp)) {
    r.error(f.at("auth_http"), f.pos("auth_http"), `"${authHttp}" is not an http:// URL`);
  }
  const proxy = proxyProtocol(r, f);
  if (protocol === undefined || listen === undefined || routes === undefined) return undefined;
  return {
    name: name ?? `${protocol}-${index}`,
    protocol,
    listen,
    routes,
    proxyProtocol: proxy,
    tls,
    implicitTls,
    timeouts: timeouts(r, f),
    limits: limits(r, f, protocol),
    idleTimeoutMs: f.duration("idle_timeout", 1),
    hostname,
    xclient: f.bool("xclient"),
    maxErrors: f.int("max_errors", 1, 1000),
    authHttp,
  };
}

function proxyProtocol(r: Reader, f: Fields): "v1" | "v2" | null | undefined {
  const node = f.get("proxy_protocol");
  if (node === undefined) return undefined;
  if (node.kind === "scalar" && node.value === false) return null;
  return r.oneOf(node, f.at("proxy_protocol"), ["v1", "v2"] as const);
}

function upstreamRef(r: Reader, f: Fields, key: string, upstreams: ReadonlySet<string>): string | undefined {
  const node = f.get(key);
  if (node === undefined) return undefined;
  const name = r.str(node, f.at(key));
  if (name === undefined) return undefined;
  if (!upstreams.has(name)) {
    const known = [...upstreams];
    r.error(f.at(key), node.pos, `no upstream named "${name}"${didYouMean(name, known)}${known.length > 0 ? `; defined: ${known.join(", ")}` : ""}`);
    return undefined;
  }
  return name;
}

/** HTTP: `routes`, or `upstream` (+ `key`) as one default route. Others: `upstream` (+ `key`). */
function routeList(r: Reader, f: Fields, protocol: ProtocolName | undefined, upstreams: ReadonlySet<string>): RouteConfig[] | undefined {
  const hasRoutes = f.has("routes") && protocol === "http";
  if (hasRoutes && (f.has("upstream") || f.has("key"))) {
    r.error(f.at(f.has("upstream") ? "upstream" : "key"), f.keyPos(f.has("upstream") ? "upstream" : "key"),
      "give either routes (each with its upstream and key) or upstream, not both");
    return undefined;
  }
  if (!hasRoutes) {
    if (!f.has("upstream")) {
      r.error(f.at("upstream"), f.map.pos, protocol === "http"
        ? "missing upstream (or routes): the upstream pool this listener sends to"
        : "missing upstream: the upstream pool this listener sends to");
      return undefined;
    }
    const keyNode = f.get("key");
    const key = keyNode === undefined ? undefined : validateKey(r, keyNode, f.at("key"), protocol);
    const upstream = upstreamRef(r, f, "upstream", upstreams);
    return upstream === undefined ? undefined : [{ upstream, key }];
  }
  const node = f.get("routes");
  if (node === undefined) return undefined;
  const items = r.list(node, f.at("routes"), "a list of routes");
  if (items === undefined) return undefined;
  if (items.length === 0) {
    r.error(f.at("routes"), node.pos, "routes needs at least one route");
    return undefined;
  }
  const out: RouteConfig[] = [];
  let catchAll: string | null = null;
  let broken = false;
  items.forEach((item, i) => {
    const path = `${f.at("routes")}[${i}]`;
    const route = r.fields(item, path, ["match", "upstream", "key"], "a route ({ match, upstream, key })");
    if (route === null) { broken = true; return; }
    let host: string | undefined;
    let pathPrefix: string | undefined;
    const matchNode = route.get("match");
    if (matchNode !== undefined) {
      const m = r.fields(matchNode, route.at("match"), ["host", "path_prefix"]);
      if (m !== null) {
        host = m.str("host");
        if (host !== undefined) {
          if (host.includes(":")) r.error(m.at("host"), m.pos("host"), `"${host}": match a host without its port`);
          else if (!isHostname(host)) r.error(m.at("host"), m.pos("host"), `"${host}" is not a host name`);
          host = host.toLowerCase().replace(/\.$/, "");
        }
        pathPrefix = m.str("path_prefix");
        if (pathPrefix !== undefined && !pathPrefix.startsWith("/")) {
          r.error(m.at("path_prefix"), m.pos("path_prefix"), `"${pathPrefix}" must start with "/"`);
        }
      }
    }
    if (catchAll !== null) {
      r.error(path, item.pos, `this route is never used: ${catchAll} matches every request before it`);
    }
    if (host === undefined && pathPrefix === undefined && catchAll === null) catchAll = path;
    const keyNode = route.get("key");
    const key = keyNode === undefined ? undefined : validateKey(r, keyNode, route.at("key"), protocol);
    if (!route.require("upstream", "the upstream pool this route sends to")) { broken = true; return; }
    const upstream = upstreamRef(r, route, "upstream", upstreams);
    if (upstream === undefined) { broken = true; return; }
    out.push({ host, pathPrefix, upstream, key });
  });
  return broken ? undefined : out;
}

function listenerTls(r: Reader, f: Fields): TlsCertPlan[] | undefined {
  const node = f.get("tls");
  if (node === undefined) return undefined;
  if (node.kind === "scalar" && node.value === false) return undefined;
  const path = f.at("tls");
  const list = node.kind === "seq" ? node.items.map((n, i) => ({ n, p: `${path}[${i}]` })) : [{ n: node, p: path }];
  const out: TlsCertPlan[] = [];
  const hostSeen = new Set<string>();
  let defaults = 0;
  for (const { n, p } of list) {
    const t = r.fields(n, p, ["hosts", "cert", "key"], "a certificate ({ cert: FILE, key: FILE })");
    if (t === null) continue;
    const hosts = tlsHosts(r, t);
    const cert = t.require("cert", "the certificate chain file (PEM)") ? t.str("cert") : undefined;
    const key = t.require("key", "the private key file (PEM)") ? t.str("key") : undefined;
    if (cert !== undefined) checkReadable(r, t.at("cert"), t.pos("cert"), cert);
    if (key !== undefined) checkReadable(r, t.at("key"), t.pos("key"), key);
    if (hosts.length === 0 && ++defaults === 2) r.error(p, n.pos, "only one certificate can be the default (without hosts)");
    for (const h of hosts) {
      if (hostSeen.has(h)) r.error(t.at("hosts"), t.pos("hosts"), `host ${h} is listed for two certificates`);
      hostSeen.add(h);
    }
    if (cert !== undefined && key !== undefined) out.push({ hosts, cert, key });
  }
  if (node.kind === "seq" && node.items.length === 0) r.error(path, node.pos, "tls needs at least one certificate");
  return out;
}

/** hosts: a name or a list of names; "*.example.com" serves one level of subdomains. */
function tlsHosts(r: Reader, t: Fields): string[] {
  const node = t.get("hosts");
  if (node === undefined) return [];
  const items = node.kind === "seq" ? node.items.map((n, i) => ({ n, p: `${t.at("hosts")}[${i}]` })) : [{ n: node, p: t.at("hosts") }];
  const out: string[] = [];
  for (const { n, p } of items) {
    const h = r.str(n, p);
    if (h === undefined) continue;
    const bare = h.startsWith("*.") ? h.slice(2) : h;
    if (!isHostname(bare)) { r.error(p, n.pos, `"${h}" is not a host name`); continue; }
    out.push(h.toLowerCase());
  }
  return out;
}

function timeouts(r: Reader, f: Fields): ListenerConfig["timeouts"] {
  const node = f.get("timeouts");
  if (node === undefined) return undefined;
  const t = r.fields(node, f.at("timeouts"), ["connect", "header", "idle", "upstream_response", "body", "send", "tunnel"]);
  if (t === null) return undefined;
  return {
    connectMs: t.duration("connect", 1),
    headerMs: t.duration("header", 1),
    idleMs: t.duration("idle", 1),
    upstreamResponseMs: t.duration("upstream_response", 1),
    bodyMs: t.duration("body", 1),
    sendMs: t.duration("send", 1),
    tunnelMs: t.duration("tunnel", 1),
  };
}

function limits(r: Reader, f: Fields, protocol: ProtocolName): ListenerConfig["limits"] {
  const node = f.get("limits");
  if (node === undefined) return undefined;
  const l = r.fields(node, f.at("limits"), ["max_header_size", "max_body_size", "max_connections", "max_headers"]);
  if (l === null) return undefined;
  if (protocol !== "http") {
    for (const k of ["max_header_size", "max_body_size", "max_headers"]) l.refuse(k, `${k} applies only to http listeners, not ${protocol}`);
  }
  const maxHeaderSize = l.size("max_header_size");
  if (maxHeaderSize !== undefined && maxHeaderSize < 1024) {
    r.error(l.at("max_header_size"), l.pos("max_header_size"), "max_header_size must be at least 1kb");
  }
  return {
    maxHeaderSize,
    maxBodySize: l.size("max_body_size"),
    maxConnections: l.int("max_connections", 1, 10_000_000),
    maxHeaders: l.int("max_headers", 1, 10_000),
  };
}
