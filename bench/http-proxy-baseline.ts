// Baseline: the `http-proxy` package as a plain reverse proxy. argv: listenPort targetPort
import http from "node:http";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const httpProxy = require("http-proxy") as { createProxyServer(o: object): { web(req: http.IncomingMessage, res: http.ServerResponse, o?: object, cb?: (e: Error) => void): void } };
const [listen, target] = [Number(process.argv[2]), Number(process.argv[3])];
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${target}`, agent: new http.Agent({ keepAlive: true, maxSockets: 256 }) });
http.createServer((req, res) => {
  proxy.web(req, res, {}, () => { res.statusCode = 502; res.end(); });
}).listen(listen, "127.0.0.1", () => process.stdout.write("ready\n"));
