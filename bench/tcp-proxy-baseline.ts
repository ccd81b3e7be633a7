// Baseline: the `node-tcp-proxy` package. argv: listenPort targetPort
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const tcpProxy = require("node-tcp-proxy") as { createProxy(port: number, host: string, targetPort: number, opts?: object): unknown };
const [listen, target] = [Number(process.argv[2]), Number(process.argv[3])];
tcpProxy.createProxy(listen, "127.0.0.1", target, { hostname: "127.0.0.1" });
setTimeout(() => process.stdout.write("ready\n"), 200);
