// Node's heavier built-in modules, loaded through require on first use rather than imported. An ESM
// import of node:http reads every export of the module, its lazy WebSocket/EventSource getters
// included, which load Node's bundled undici: about 14 MiB of a bare process's RSS that the proxy never
// uses. node:tls, node:https, node:http2 and node:crypto start OpenSSL and compile their JavaScript:
// about 5 MiB of RSS (binary pages and heap) that a proxy with no TLS, no HTTP/2 and no MySQL check
// never needs (issue 11, the memory target). Types come from `import type`, which loads nothing.
import { createRequire } from "node:module";

const load = createRequire(import.meta.url);

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
