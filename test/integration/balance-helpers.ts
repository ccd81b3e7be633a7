// Helpers for the scheduler and persistence integration tests: one-connection HTTP requests from a chosen
// source address, origins that hold requests until told to answer, and TCP origins that say their name.
import http from "node:http";
import net from "node:net";
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import { startOrigin, waitFor, type Origin } from "../support/net.ts";

export interface Reply {
  readonly status: number;
  readonly body: string;
  readonly headers: IncomingHttpHeaders;
}

export interface GetOptions {
  /** Local address to connect from (127.0.0.2 .. 127.0.0.9 on Linux loopback); default: the kernel's choice. */
  readonly source?: string;
  /** Host header; default 127.0.0.1:port. */
  readonly host?: string;
  readonly cookie?: string;
}

/** One GET on a fresh connection (agent: false), so every request is a new client connection. */
export function get(port: number, path: string, o: GetOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { connection: "close" };
    if (o.host !== undefined) headers["host"] = o.host;
    if (o.cookie !== undefined) headers["cookie"] = o.cookie;
    const req = http.request({ host: "127.0.0.1", port, path, agent: false, localAddress: o.source, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), headers: res.headers }));
      res.on("error", reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

/** The body of n sequential GETs. */
export async function sequence(port: number, path: string, n: number, o: GetOptions = {}): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await get(port, path, o);
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.body}`);
    out.push(r.body);
  }
  return out;
}

/** An origin that answers its name at once, except for URLs containing "hold": those wait for release(). */
export interface HoldingOrigin {
  readonly origin: Origin;
  readonly name: string;
  readonly address: string;
  /** Requests held now. */
  readonly held: ServerResponse[];
  /** Answers every held request (with the origin's name). */
  release(): void;
  close(): Promise<void>;
}

export async function startHoldingOrigin(name: string): Promise<HoldingOrigin> {
  const held: ServerResponse[] = [];
  const origin = await startOrigin(name, (req, res, o) => {
    if ((req.url ?? "").includes("hold")) { held.push(res); return; }
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(o.name);
  });
  return {
    origin, name, address: origin.address, held,
    release: () => {
      for (const res of held.splice(0)) {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end(name);
      }
    },
    close: () => origin.close(),
  };
}

/**
 * Holds requests against a group of holding origins and records where each one landed. send() waits until the
 * request has reached an origin, so each pick happens with every earlier one already counted.
 */
export class Holder {
  readonly #port: number;
  readonly #origins: readonly HoldingOrigin[];
  /** Requests in flight, with the origin holding each. */
  #pending: { name: string; reply: Promise<Reply> }[] = [];
  constructor(port: number, origins: readonly HoldingOrigin[]) {
    this.#port = port;
    this.#origins = origins;
  }

  #heldTotal(): number {
    let n = 0;
    for (const o of this.#origins) n += o.held.length;
    return n;
  }

  /** Sends one request to path (whose URL must contain "hold") and returns the name of the origin holding it. */
  async send(path: string, o: GetOptions = {}): Promise<string> {
    const before = this.#origins.map((x) => x.held.length);
    const want = this.#heldTotal() + 1;
    const reply = get(this.#port, path, o);
    reply.catch(() => {}); // awaited in release(); a failure shows there
    if (!(await waitFor(() => this.#heldTotal() >= want, 5000))) throw new Error(`request ${path} reached no origin`);
    for (let i = 0; i < this.#origins.length; i++) {
      if (this.#origins[i].held.length > before[i]) {
        this.#pending.push({ name: this.#origins[i].name, reply });
        return this.#origins[i].name;
      }
    }
    throw new Error("unreachable");
  }

  /** Answers what one origin holds and waits until those replies reached their clients. */
  async release(o: HoldingOrigin): Promise<Reply[]> {
    o.release();
    const mine = this.#pending.filter((p) => p.name === o.name);
    this.#pending = this.#pending.filter((p) => p.name !== o.name);
    return Promise.all(mine.map((p) => p.reply));
  }

  /** Answers everything held and waits for every reply. */
  async releaseAll(): Promise<Reply[]> {
    for (const o of this.#origins) o.release();
    const all = this.#pending;
    this.#pending = [];
    return Promise.all(all.map((p) => p.reply));
  }
}

/** A TCP origin that writes its name and closes. */
export async function startNameServer(name: string): Promise<{ server: net.Server; address: string }> {
  const server = net.createServer((c) => { c.on("error", () => {}); c.end(name); });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const a = server.address() as net.AddressInfo;
  return { server, address: `127.0.0.1:${a.port}` };
}

/** Connects to port from source, reads until the server closes, returns the text. */
export function readName(port: number, source: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port, localAddress: source });
    let text = "";
    s.setEncoding("utf8");
    s.setTimeout(5000, () => s.destroy(new Error("no answer")));
    s.on("data", (d: string) => { text += d; });
    s.on("end", () => resolve(text));
    s.on("error", reject);
  });
}

/** The 8 loopback source addresses used as distinct clients. */
export const SOURCES: readonly string[] = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8", "127.0.0.9"];
