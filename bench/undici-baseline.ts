// Baseline: a minimal node:http server forwarding through an undici Pool. argv: listenPort targetPort
import http from "node:http";
import { Pool } from "undici";

const [listen, target] = [Number(process.argv[2]), Number(process.argv[3])];
const pool = new Pool(`http://127.0.0.1:${target}`, { connections: 256 });
http.createServer((req, res) => {
  pool.request({ method: (req.method ?? "GET") as "GET", path: req.url ?? "/", headers: req.headers, body: req.method === "GET" || req.method === "HEAD" ? null : req })
    .then((r) => { res.writeHead(r.statusCode, r.headers as http.OutgoingHttpHeaders); r.body.pipe(res); })
    .catch(() => { res.statusCode = 502; res.end(); });
}).listen(listen, "127.0.0.1", () => process.stdout.write("ready\n"));
