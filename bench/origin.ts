// Bench origin: answers every request with a fixed body (100 B by default). argv: port [size]
import http from "node:http";

const port = Number(process.argv[2]);
const size = Number(process.argv[3] ?? 100);
const body = Buffer.alloc(size, "x");
http.createServer({ keepAliveTimeout: 60_000 }, (_req, res) => {
  res.writeHead(200, { "content-type": "text/plain", "content-length": body.length });
  res.end(body);
}).listen(port, "127.0.0.1", () => process.stdout.write("ready\n"));
