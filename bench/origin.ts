// Bench origin: answers every request with a fixed body (100 B; /16k: 16 KiB). argv: port [size]
// GET /big?bytes=N streams N bytes (for throughput runs) in 64 KiB writes with backpressure.
// ORIGIN_WORKERS=N (multi-core runs): N processes share the port (node:cluster), so the origin is not
// what limits a proxy running N workers.
import cluster from "node:cluster";
import http from "node:http";

const port = Number(process.argv[2]);
const size = Number(process.argv[3] ?? 100);
const body = Buffer.alloc(size, "x");
const body16k = Buffer.alloc(16 * 1024, "z");
const block = Buffer.alloc(64 * 1024, "y");

const workers = Number(process.env.ORIGIN_WORKERS ?? 1);
if (workers > 1 && cluster.isPrimary) {
  let ready = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on("message", () => { if (++ready === workers) process.stdout.write("ready\n"); });
  }
} else {
  serve();
}

function serve(): void {
http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  if (req.url !== undefined && req.url.startsWith("/big")) {
    const n = Number(new URL(req.url, "http://x").searchParams.get("bytes") ?? 0);
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": n });
    let left = n;
    const pump = (): void => {
      while (left > 0) {
        const c = left >= block.length ? block : block.subarray(0, left);
        left -= c.length;
        if (!res.write(c)) { res.once("drain", pump); return; }
      }
      res.end();
    };
    pump();
    return;
  }
  const b = req.url === "/16k" ? body16k : body;
  res.writeHead(200, { "content-type": "text/plain", "content-length": b.length });
  res.end(b);
}).listen(port, "127.0.0.1", () => {
  if (process.send !== undefined) process.send("ready");
  else process.stdout.write("ready\n");
});
}
