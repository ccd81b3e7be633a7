// node:http and node:https for the proxy's own modules, loaded through require. An ESM import of
// node:http reads every export of the module, its lazy WebSocket/EventSource getters included, which
// load Node's bundled undici: about 14 MiB of a bare process's RSS that the proxy never uses.
import { createRequire } from "node:module";

const load = createRequire(import.meta.url);

export const http = load("node:http") as typeof import("node:http");
export const https = load("node:https") as typeof import("node:https");
