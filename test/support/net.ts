// Small network helpers for tests: free ports, origin servers, waiting.
import net from "node:net";
import http from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const a = s.address();
  const port = a !== null && typeof a === "object" ? a.port : 0;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface Origin {
  readonly name: string;
  readonly port: number;
  readonly address: string;
  /** Requests seen. */
  requests: number;
  /** Distinct client sockets seen (keep-alive reuse). */
  readonly sockets: Set<net.Socket>;
  readonly server: http.Server;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, origin: Origin) => void;

const defaultHandler: Handler = (req, res, o) => {
  res.writeHead(200, { "content-type": "text/plain", "x-origin": o.name });
  res.end(o.name);
};

/** An HTTP origin on 127.0.0.1 (port 0 unless given) answering with its name. */
export async function startOrigin(name: string, handler: Handler = defaultHandler, port = 0): Promise<Origin> {
  const sockets = new Set<net.Socket>();
  let origin: Origin | null = null;
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    const o = origin as Origin;
    o.requests++;
    handler(req, res, o);
  });
  server.on("connection", (s: net.Socket) => sockets.add(s));
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  const a = server.address();
  const p = a !== null && typeof a === "object" ? a.port : 0;
  origin = {
    name, port: p, address: `127.0.0.1:${p}`, requests: 0, sockets, server,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
  return origin;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls cond every 20 ms until true or timeoutMs passes; returns the last value. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return true;
    await sleep(20);
  }
  return cond();
}
