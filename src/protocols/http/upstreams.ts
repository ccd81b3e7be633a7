// Keep-alive connection pools to upstream servers (node:http / node:https Agents), shared by every
// listener and kept across reloads. node's client parser is strict on responses (hardening.md 1.2: it
// rejects CL+TE, duplicate CL, bare LF, obs-fold, bad chunks and never reuses a socket that sent bytes
// after a response); it forwards 1xx ('information'), Expect/100 ('continue') and 101 ('upgrade'), which
// undici's dispatcher does not. Idle sockets are dropped before the server's announced Keep-Alive
// timeout (agentKeepAliveTimeoutBuffer), else after FREE_SOCKET_MS.
import type { Agent } from "node:http";
import type { Agent as TlsAgent } from "node:https";
import { fs, nodeHttp, nodeHttps } from "../../core/builtins.ts";
import net from "node:net";
import type { UpstreamPlan } from "../../config/schema.ts";
import { H1Pool } from "./h1-client.ts";

/** An idle upstream connection is closed after this long (servers commonly keep 5 s or more). */
const FREE_SOCKET_MS = 4_000;

type UpstreamTls = UpstreamPlan["tls"];

/** For Upgrade tunnels only: made (and node:http loaded) with the first one. */
let plain: Agent | null = null;
const secure = new Map<string, TlsAgent>();

/** The agent for a pool's TLS settings (plain HTTP: one shared agent). A CA file is read once per path. */
export function agentFor(tls: UpstreamTls): Agent {
  if (tls === null) return plain ??= new (nodeHttp().Agent)({ keepAlive: true, scheduling: "lifo", timeout: FREE_SOCKET_MS, maxFreeSockets: 1024 });
  const id = `${tls.ca ?? ""}|${tls.verify ? 1 : 0}`;
  let a = secure.get(id);
  if (a === undefined) {
    a = new (nodeHttps().Agent)({
      keepAlive: true, scheduling: "lifo", timeout: FREE_SOCKET_MS, maxFreeSockets: 1024,
      ca: tls.ca === null ? undefined : fs.readFileSync(tls.ca),
      rejectUnauthorized: tls.verify,
      minVersion: "TLSv1.2",
      ALPNProtocols: ["http/1.1"],
    });
    secure.set(id, a);
  }
  return a;
}

/** SNI name and certificate identity for a server: the configured servername, else its host unless that is an IP. */
export function serverName(tls: UpstreamTls, host: string): string | undefined {
  if (tls === null) return undefined;
  if (tls.servername !== null) return tls.servername;
  return net.isIP(host) === 0 ? host : "";
}

const h1pools = new Map<string, H1Pool>();
const caFiles = new Map<string, Buffer>();

interface CachedPool { readonly tls: UpstreamTls; readonly connectTimeoutMs: number; readonly pool: H1Pool }
/** Per-server memo of h1PoolFor, so the per-request path builds no lookup string. */
const byServer = new WeakMap<object, CachedPool>();

/** h1PoolFor memoised on the server object (the hot path: one WeakMap read per request). */
export function h1PoolForServer(s: { readonly host: string; readonly port: number }, tls: UpstreamTls, connectTimeoutMs: number): H1Pool {
  const c = byServer.get(s);
  if (c !== undefined && c.tls === tls && c.connectTimeoutMs === connectTimeoutMs && !c.pool.closed) return c.pool;
  const pool = h1PoolFor(s.host, s.port, tls, connectTimeoutMs);
  byServer.set(s, { tls, connectTimeoutMs, pool });
  return pool;
}

/**
 * The h1-client pool for one server (requests and responses: forward.ts). The node:http agents above
 * remain for Upgrade tunnels (upgrade.ts), which are rare and long-lived.
 */
export function h1PoolFor(host: string, port: number, tls: UpstreamTls, connectTimeoutMs: number): H1Pool {
  const id = tls === null ? `${host}|${port}|${connectTimeoutMs}` : `${host}|${port}|${connectTimeoutMs}|${tls.ca ?? ""}|${tls.servername ?? ""}|${tls.verify ? 1 : 0}`;
  let p = h1pools.get(id);
  if (p === undefined) {
    let ca: Buffer | null = null;
    if (tls !== null && tls.ca !== null) {
      ca = caFiles.get(tls.ca) ?? fs.readFileSync(tls.ca);
      caFiles.set(tls.ca, ca);
    }
    const name = serverName(tls, host);
    p = new H1Pool(host, port, {
      connectTimeoutMs,
      keepAliveTimeoutMs: FREE_SOCKET_MS,
      maxIdle: 1024,
      tls: tls === null ? null : { ca, servername: name === "" ? undefined : name, verify: tls.verify },
      maxHeaderSize: 65536,
    });
    h1pools.set(id, p);
  }
  return p;
}

/** Close every upstream connection (shutdown). */
export async function closeUpstreams(): Promise<void> {
  for (const p of h1pools.values()) p.destroy();
  h1pools.clear();
  plain?.destroy();
  plain = null;
  for (const a of secure.values()) a.destroy();
  secure.clear();
}
