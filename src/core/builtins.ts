// Node's heavier built-in modules, loaded through require on first use rather than imported. An ESM
// import of node:http reads every export of the module, its lazy WebSocket/EventSource getters
// included, which load Node's bundled undici: about 14 MiB of a bare process's RSS that the proxy never
// uses. node:tls, node:https, node:http2 and node:crypto start OpenSSL and compile their JavaScript:
// about 5 MiB of RSS (binary pages and heap) that a proxy with no TLS, no HTTP/2 and no MySQL check
// never needs (issue 11, the memory target). node:cluster and node:dns/promises are required only by
// `workers` and DNS discovery (net's listen() loads cluster, and dns behind it, anyway).
// Types come from `import type`, which loads nothing.
import { createRequire } from "node:module";

const load = createRequire(import.meta.url);

/**
 * node:fs through require: an ESM import of it reads the lazy `promises` getter too, which loads
 * fs/promises and readline's interface behind it (about 1 MiB of RSS).
 */
export const fs = load("node:fs") as typeof import("node:fs");

/** A getter that requires the module on its first call and returns the same object after. */
function lazy<T>(name: string): () => T {
  let mod: T | null = null;
  return () => mod ??= load(name) as T;
}

export const nodeHttp = lazy<typeof import("node:http")>("node:http");
export const nodeHttps = lazy<typeof import("node:https")>("node:https");
export const nodeTls = lazy<typeof import("node:tls")>("node:tls");
export const nodeHttp2 = lazy<typeof import("node:http2")>("node:http2");
export const nodeCrypto = lazy<typeof import("node:crypto")>("node:crypto");
export const nodeCluster = lazy<import("node:cluster").Cluster>("node:cluster");
export const nodeDns = lazy<typeof import("node:dns/promises")>("node:dns/promises");

/** A UTF-8 file's text: fs/promises' readFile without loading fs/promises. */
export function readText(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    fs.readFile(file, "utf8", (err, text) => { if (err) reject(err); else resolve(text); });
  });
}
