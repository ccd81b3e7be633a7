// The one upstream dial path for connection protocols: pool.acquire -> dial with a timeout ->
// on connect failure release with the cause, exclude that server and try another (retries).
import net from "node:net";
import type { Socket } from "node:net";
import type { Lease } from "../upstream/pool.ts";
import type { Route } from "./route.ts";
import type { ServerView } from "../upstream/server.ts";
import { connectRelayed } from "../protocols/pipe.ts";

export type DialResult =
  | { readonly ok: true; readonly socket: Socket; readonly lease: Lease; readonly tries: number }
  | { readonly ok: false; readonly reason: "no-server" | "connect-failed"; readonly tries: number; readonly detail: string };

export interface DialOptions {
  readonly key: string | null;
  readonly clientPort: number;
  /** Client address for persistence templates; null when unknown. */
  readonly clientIp?: string | null;
  /** Written before anything else on each new upstream socket (a PROXY header); null = nothing. */
  readonly preamble: Buffer | null;
  /** Called if the client went away while dialing: stop trying. */
  readonly cancelled?: () => boolean;
  /** Servers this unit already tried and gave up on after connecting (e.g. closed before a greeting): never picked again. */
  readonly exclude?: ReadonlySet<ServerView> | null;
  /** Tries this unit already spent (counts against the pool's retries); default 0. */
  readonly triesSpent?: number;
  /** The socket goes straight to relay() and nothing else reads it: dial it with connectRelayed (pipe.ts). */
  readonly relayed?: boolean;
}

/** Dial one server: resolves the connected socket or an error text; never rejects. relayed: see DialOptions. */
export function dialServer(host: string, port: number, timeoutMs: number, relayed = false): Promise<Socket | { error: string; timeout: boolean }> {
  return new Promise((resolve) => {
    const options = { host, port, allowHalfOpen: true, noDelay: true };
    const sock = relayed ? connectRelayed(options) : net.connect(options);
    const timer = setTimeout(() => { sock.destroy(); resolve({ error: `timeout after ${timeoutMs} ms`, timeout: true }); }, timeoutMs);
    sock.once("connect", () => { clearTimeout(timer); sock.removeAllListeners("error"); resolve(sock); });
    sock.once("error", (err: NodeJS.ErrnoException) => { clearTimeout(timer); resolve({ error: err.code ?? err.message, timeout: false }); });
  });
}

/** acquire + dial + retry other servers on connect failure (never the same server twice). */
export async function dial(route: Route, opts: DialOptions): Promise<DialResult> {
  const pool = route.pool;
  const maxTries = 1 + pool.plan.retries;
  let exclude: Set<ServerView> | null = opts.exclude != null && opts.exclude.size > 0 ? new Set(opts.exclude) : null;
  let detail = "";
  let tries = opts.triesSpent ?? 0;
  while (tries < maxTries) {
    const lease = pool.acquire({ key: opts.key, port: opts.clientPort, exclude }, opts.clientIp ?? null);
    if (lease === null) break;
    tries++;
    const s = lease.server;
    const r = await dialServer(s.host, s.port, pool.plan.connectTimeoutMs, opts.relayed === true);
    if (r instanceof net.Socket) {
      if (opts.cancelled?.() === true) { r.destroy(); lease.release("client-aborted"); return { ok: false, reason: "connect-failed", tries, detail: "client gone" }; }
      if (opts.preamble !== null) r.write(opts.preamble);
      return { ok: true, socket: r, lease, tries };
    }
    lease.release(r.timeout ? "connect-timeout" : "connect-refused");
    detail = `${s.address}: ${r.error}`;
    if (tries > 1) pool.retries++;
    (exclude ??= new Set()).add(s);
    if (opts.cancelled?.() === true) break;
  }
  if (tries === 0) { pool.refusals++; return { ok: false, reason: "no-server", tries, detail: `no server of upstream ${pool.name} is available` }; }
  return { ok: false, reason: "connect-failed", tries, detail };
}
