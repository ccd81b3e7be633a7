// Demo origins for the out-of-the-box config (`demo.origins`): tiny HTTP servers that say who they
// are, so `curl` through the proxy shows the balancing at once.
import type { Server } from "node:http";
import { nodeHttp } from "../core/builtins.ts";
import type { Address } from "../core/types.ts";

export interface DemoOrigins { close(): Promise<void> }

export async function startDemoOrigins(addresses: readonly Address[]): Promise<DemoOrigins> {
  const servers: Server[] = [];
  for (const a of addresses) {
    const name = a.text;
    const s = nodeHttp().createServer((req, res) => {
      if (req.url === "/healthz") { res.writeHead(200, { "content-type": "text/plain" }); res.end("ok\n"); return; }
      const body = `hello from demo origin ${name} (${req.method} ${req.url}, x-forwarded-for: ${req.headers["x-forwarded-for"] ?? "-"})\n`;
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "x-origin": name });
      res.end(body);
    });
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(a.port, a.host === "" ? undefined : a.host, () => resolve());
    });
    servers.push(s);
  }
  return {
    close: () => Promise.all(servers.map((s) => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); }))).then(() => undefined),
  };
}
