// Helpers shared by the failover and /api/upstreams tests: a keep-alive client, a bounded request
// loop that runs through a whole failover episode, the admin JSON, and log-line waits.
import { after } from "node:test";
import { Agent, request } from "undici";
import type { Handler, Origin } from "../support/net.ts";
import { sleep, startOrigin, waitFor } from "../support/net.ts";
import { startProxy, type LogLine, type TestProxy } from "../support/proxy.ts";

export const agent = new Agent({ keepAliveTimeout: 10_000, connections: 8 });

/** What a test file needs to start proxies and origins that are all stopped after its last test. */
export interface Scope {
  /** An in-process proxy from YAML; base = the URL of its listener named "public". */
  proxyFor(yaml: string): Promise<{ proxy: TestProxy; base: string }>;
  /** Registers an origin to close after the file's tests. */
  keep<T extends Origin>(o: T): T;
}

/** Call once at the top level of a test file: cleanup (in reverse order, then the shared agent) runs in after(). */
export function testScope(): Scope {
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
    await agent.close();
  });
  return {
    async proxyFor(yaml) {
      const proxy = await startProxy(yaml);
      stops.push(() => proxy.stop());
      return { proxy, base: `http://127.0.0.1:${proxy.port("public")}` };
    },
    keep(o) {
      stops.push(() => o.close());
      return o;
    },
  };
}

export interface Reply {
  readonly status: number;
  /** x-origin of the answer ("" for the proxy's own error answers). */
  readonly origin: string;
  readonly error: string;
  readonly body: string;
}

/** One GET through the proxy; a thrown client error becomes status 0 with its code. */
export async function get(base: string, path = "/"): Promise<Reply> {
  try {
    const r = await request(`${base}${path}`, { dispatcher: agent, headersTimeout: 5000, bodyTimeout: 5000 });
    const body = await r.body.text();
    const h = (n: string): string => { const v = r.headers[n]; return typeof v === "string" ? v : ""; };
    return { status: r.statusCode, origin: h("x-origin"), error: h("x-switchyard-error"), body };
  } catch (err) {
    return { status: 0, origin: "", error: (err as NodeJS.ErrnoException).code ?? String(err), body: "" };
  }
}

/** count GETs one after another; the origins that answered, in order. */
export async function burst(base: string, count: number, path = "/"): Promise<Reply[]> {
  const out: Reply[] = [];
  for (let i = 0; i < count; i++) out.push(await get(base, path));
  return out;
}

export function tally(replies: readonly Reply[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const r of replies) {
    const k = r.status === 200 ? r.origin : `status ${r.status} ${r.error}`;
    t[k] = (t[k] ?? 0) + 1;
  }
  return t;
}

export interface Sample extends Reply { readonly at: number }

/**
 * GETs back to back (at most one in flight, a pause of gapMs between) until stop() or until
 * maxRequests / maxMs is reached, whichever comes first: the "client during the episode".
 */
export class RequestLoop {
  readonly samples: Sample[] = [];
  readonly done: Promise<void>;
  #stop = false;

  constructor(base: string, opts: { gapMs: number; maxRequests: number; maxMs: number; path?: string }) {
    this.done = (async () => {
      const end = Date.now() + opts.maxMs;
      while (!this.#stop && this.samples.length < opts.maxRequests && Date.now() < end) {
        const r = await get(base, opts.path ?? "/");
        this.samples.push({ ...r, at: Date.now() });
        if (opts.gapMs > 0) await sleep(opts.gapMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.done;
  }

  /** Samples answered after time t (ms since the epoch). */
  since(t: number): Sample[] { return this.samples.filter((s) => s.at > t); }

  failures(): Sample[] { return this.samples.filter((s) => s.status !== 200); }
}

/**
 * An origin whose /healthz answers health.status (mutable; 0 = never answers) and whose other
 * paths answer its name.
 */
export interface CheckedOrigin extends Origin { health: { status: number } }

export async function startChecked(name: string, port = 0): Promise<CheckedOrigin> {
  const health = { status: 200 };
  const handler: Handler = (req, res, o) => {
    if (req.url === "/healthz") {
      if (health.status === 0) return; // hangs until the prober gives up (close() drops it)
      res.writeHead(health.status, { "content-type": "text/plain" });
      res.end("health\n");
      return;
    }
    res.writeHead(200, { "content-type": "text/plain", "x-origin": o.name });
    res.end(o.name);
  };
  const o = await startOrigin(name, handler, port);
  return Object.assign(o, { health });
}

export interface ApiServer {
  address: string; weight: number; effective_weight: number; backup: boolean;
  state: "up" | "down" | "drain"; causes: string[]; active: number; inactive: number; total: number;
  failures: number; last_check: string | null; history: { at: number; state: string; reason: string }[];
}
export interface ApiPool { name: string; scheduler: string; refusals: number; retries: number; servers: ApiServer[] }

export async function upstreams(proxy: TestProxy): Promise<ApiPool[]> {
  const r = await request(`http://127.0.0.1:${proxy.adminPort()}/api/upstreams`, { dispatcher: agent });
  if (r.statusCode !== 200) throw new Error(`/api/upstreams answered ${r.statusCode}`);
  return (await r.body.json()) as ApiPool[];
}

export async function apiServer(proxy: TestProxy, pool: string, address: string): Promise<ApiServer> {
  const p = (await upstreams(proxy)).find((x) => x.name === pool);
  const s = p?.servers.find((x) => x.address === address);
  if (s === undefined) throw new Error(`no server ${address} in pool ${pool}`);
  return s;
}

/** The pool's transition line for server -> state, logged after index `from` of proxy.logs. */
export function transition(proxy: TestProxy, server: string, state: "up" | "down", from = 0): LogLine | null {
  for (let i = from; i < proxy.logs.length; i++) {
    const l = proxy.logs[i];
    if (l.server === server && l.to === state && l.msg === `server ${server} is ${state}`) return l;
  }
  return null;
}

/** Waits (bounded) for that transition line; throws with the recent log on timeout. */
export async function waitTransition(proxy: TestProxy, server: string, state: "up" | "down", from: number, timeoutMs: number): Promise<LogLine> {
  await waitFor(() => transition(proxy, server, state, from) !== null, timeoutMs);
  const l = transition(proxy, server, state, from);
  if (l === null) throw new Error(`${server} did not go ${state} within ${timeoutMs} ms; log tail: ${JSON.stringify(proxy.logs.slice(-5))}`);
  return l;
}

/** Every transition line of server after index from, oldest first. */
export function transitions(proxy: TestProxy, server: string, from = 0): LogLine[] {
  return proxy.logs.slice(from).filter((l) => l.server === server && typeof l.to === "string" && l.msg === `server ${server} is ${String(l.to)}`);
}
