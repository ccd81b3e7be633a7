// undici connection pools, one per upstream server address, shared by every listener and kept
// across reloads (keep-alive connections survive a config swap).
import { Pool as UndiciPool } from "undici";

const pools = new Map<string, UndiciPool>();

export interface UpstreamConnOptions {
  readonly connectTimeoutMs: number;
}

/** The keep-alive pool for host:port (created on first use). */
export function upstreamFor(host: string, port: number, opts: UpstreamConnOptions): UndiciPool {
  const id = `${host}:${port}/${opts.connectTimeoutMs}`;
  let p = pools.get(id);
  if (p === undefined) {
    p = new UndiciPool(`http://${host.includes(":") ? `[${host}]` : host}:${port}`, {
      connect: { timeout: opts.connectTimeoutMs, noDelay: true },
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 60_000,
      pipelining: 1,
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    pools.set(id, p);
  }
  return p;
}

/** Close every idle upstream connection pool (shutdown). */
export async function closeUpstreams(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.allSettled(all.map((p) => p.destroy()));
}
