// Validation of the whole file: the top-level keys, then the checks that span blocks (references,
// duplicate names and addresses, sticky pools without an HTTP listener). Every problem is reported,
// each at the line:column of the key or value at fault; the result is a Config only when none was found.
import type { Address } from "../core/types.ts";
import type { LogLevel } from "./schema.ts";
import { DEFAULTS } from "./plan.ts";
import { LISTEN_ADDRESS, parseAddress, PEER_ADDRESS } from "./units.ts";
import { Reader } from "./validate-read.ts";
import { validateListener } from "./validate-listener.ts";
import { validateUpstream } from "./validate-upstream.ts";
import type { Issue, Pos, YNode } from "./validate-tree.ts";
import type { Config, ListenerConfig, UpstreamConfig } from "./validate-types.ts";

export const LOG_LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

const TOP_KEYS = ["workers", "watch", "shutdown_timeout", "pid_file", "log", "admin", "upstreams", "listeners", "demo"];

/** Returns the Config when the tree is valid; otherwise every issue found is in `issues`. */
export function validate(root: YNode, issues: Issue[]): Config | null {
  const before = issues.length;
  const r = new Reader(issues);
  if (root.kind === "scalar" && root.value === null) {
    r.error("", root.pos, "the file is empty: it needs at least listeners and upstreams");
    return null;
  }
  const f = r.fields(root, "", TOP_KEYS, "a map of settings (workers, upstreams, listeners, ...)");
  if (f === null) return null;

  let workers: number | "auto" | undefined;
  const w = f.get("workers");
  if (w !== undefined) workers = w.kind === "scalar" && w.value === "auto" ? "auto" : r.int(w, "workers", 1, 1024);

  let log: Config["log"];
  const logNode = f.get("log");
  if (logNode !== undefined) {
    const l = r.fields(logNode, "log", ["level", "access", "access_format"]);
    if (l !== null) log = { level: l.oneOf("level", LOG_LEVELS), access: l.bool("access"), accessFormat: l.oneOf("access_format", ["json", "combined"] as const) };
  }

  let admin: Config["admin"];
  let adminPos: Pos = { line: 1, column: 1 };
  const adminNode = f.get("admin");
  if (adminNode !== undefined) {
    const a = r.fields(adminNode, "admin", ["listen", "token"]);
    if (a !== null) {
      const token = a.str("token");
      adminPos = a.pos("listen");
      admin = { listen: a.address("listen", LISTEN_ADDRESS), token: token === "" ? undefined : token };
    }
  }

  // upstreams first: listeners refer to them by name
  const upstreams: UpstreamConfig[] = [];
  const stickyAt = new Map<string, Pos>();
  const upNode = f.get("upstreams");
  if (upNode !== undefined) {
    const u = r.fields(upNode, "upstreams", upNode.kind === "map" ? upNode.entries.map((e) => e.key) : [], "a map of upstream pools (name: { servers: [...] })");
    if (u !== null) {
      for (const e of u.map.entries) {
        const path = `upstreams.${e.key}`;
        upstreams.push(validateUpstream(r, e.key, e.keyPos, e.value, path));
        if (e.value.kind === "map") {
          const s = e.value.entries.find((x) => x.key === "sticky");
          if (s !== undefined) stickyAt.set(e.key, s.keyPos);
        }
      }
    }
  }
  const names = new Set(upstreams.map((u) => u.name));

  const listeners: ListenerConfig[] = [];
  const bound: Bound[] = [];
  const listNode = f.get("listeners");
  if (f.require("listeners", "the list of listeners ({ name, protocol, listen, upstream })") && listNode !== undefined) {
    const items = r.list(listNode, "listeners", "a list of listeners");
    items?.forEach((item, i) => {
      const count = issues.length;
      const l = validateListener(r, item, `listeners[${i}]`, i, names);
      if (l !== undefined) listeners.push(l);
      else if (issues.length === count) r.error(`listeners[${i}]`, item.pos, "invalid listener"); // never drop one silently
      // names and addresses are compared even for listeners with other errors: report everything at once
      const b = boundListener(item, i, l);
      if (b !== null) bound.push(b);
    });
    crossCheck(r, bound, listeners, upstreams, stickyAt);
  }

  if (admin !== undefined) bound.push({ addr: admin.listen ?? DEFAULTS.adminListen, what: "the admin listener", path: "admin.listen", pos: adminPos, name: null, namePos: adminPos, index: -1 });

  const demo: Address[] = [];
  const demoNode = f.get("demo");
  if (demoNode !== undefined) {
    const d = r.fields(demoNode, "demo", ["origins"]);
    const originsNode = d?.get("origins");
    if (originsNode !== undefined) {
      r.list(originsNode, "demo.origins", "a list of addresses")?.forEach((n, i) => {
        const a = r.address(n, `demo.origins[${i}]`, PEER_ADDRESS);
        if (a === undefined) return;
        demo.push(a);
        bound.push({ addr: a, what: `demo origin ${a.text}`, path: `demo.origins[${i}]`, pos: n.pos, name: null, namePos: n.pos, index: -1 });
      });
    }
  }
  addressClashes(r, bound);

  const config: Config = {
    workers,
    watch: f.bool("watch"),
    shutdownTimeoutMs: f.duration("shutdown_timeout"),
    pidFile: f.str("pid_file"),
    log,
    admin,
    upstreams,
    listeners,
    demo,
  };
  return issues.length === before ? config : null;
}

/** A socket this process binds: a listener, the admin listener or a demo origin. */
interface Bound {
  readonly addr: Address;
  readonly what: string;
  readonly path: string;
  readonly pos: Pos;
  /** Listeners only: name (where given) and index in the list; null / -1 for the others. */
  readonly name: string | null;
  readonly namePos: Pos;
  readonly index: number;
}

/** The name and address of listeners[i], from its validated form or, failing that, its raw entries. */
function boundListener(item: YNode, i: number, l: ListenerConfig | undefined): Bound | null {
  if (item.kind !== "map") return null;
  const listenAt = item.entries.find((x) => x.key === "listen")?.value;
  const nameAt = item.entries.find((x) => x.key === "name")?.value;
  let addr = l?.listen;
  if (addr === undefined && listenAt?.kind === "scalar" && typeof listenAt.value === "string") {
    const p = parseAddress(listenAt.value, LISTEN_ADDRESS);
    if (p.ok) addr = p.value;
  }
  const name = l?.name ?? (nameAt?.kind === "scalar" && nameAt.value !== null ? nameAt.text : null);
  if (addr === undefined) {
    return name === null ? null : { addr: { host: "", port: 0, text: "" }, what: "", path: `listeners[${i}].listen`, pos: item.pos, name, namePos: nameAt?.pos ?? item.pos, index: i };
  }
  return { addr, what: `listener ${name ?? i}`, path: `listeners[${i}].listen`, pos: listenAt?.pos ?? item.pos, name, namePos: nameAt?.pos ?? item.pos, index: i };
}

/** Listener names unique; a sticky pool must serve at least one HTTP listener (cookies are HTTP). */
function crossCheck(r: Reader, bound: readonly Bound[], listeners: readonly ListenerConfig[], upstreams: readonly UpstreamConfig[], stickyAt: ReadonlyMap<string, Pos>): void {
  const byName = new Map<string, number>();
  for (const b of bound) {
    if (b.name === null) continue;
    const first = byName.get(b.name);
    if (first !== undefined) r.error(`listeners[${b.index}].name`, b.namePos, `duplicate listener name "${b.name}" (also listeners[${first}])`);
    else byName.set(b.name, b.index);
  }
  for (const u of upstreams) {
    const pos = stickyAt.get(u.name);
    if (pos === undefined || u.sticky === undefined || u.sticky === false) continue;
    const users = listeners.filter((l) => l.routes.some((rt) => rt.upstream === u.name));
    if (users.length > 0 && !users.some((l) => l.protocol === "http")) {
      r.error(`upstreams.${u.name}.sticky`, pos, `sticky is a cookie, for http listeners; ${u.name} serves only ${[...new Set(users.map((l) => l.protocol))].join(", ")} listeners (use persistence for connection affinity)`);
    }
  }
}

const ANY_HOST = new Set(["", "0.0.0.0", "::", "::0"]);

function clash(a: Address, b: Address): boolean {
  if (a.port === 0 || a.port !== b.port) return false;
  return a.host === b.host || ANY_HOST.has(a.host) || ANY_HOST.has(b.host);
}

/** Two sockets this process binds cannot share a port (port 0 excepted: the OS picks one). */
function addressClashes(r: Reader, bound: readonly Bound[]): void {
  for (let i = 1; i < bound.length; i++) {
    for (let j = 0; j < i; j++) {
      if (clash(bound[i].addr, bound[j].addr)) {
        r.error(bound[i].path, bound[i].pos, `${bound[i].addr.text} is also used by ${bound[j].what} (${bound[j].path})`);
        break;
      }
    }
  }
}
