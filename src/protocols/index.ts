// Protocol registry: config keyword -> adapter. One line per protocol.
import type { ProtocolAdapter } from "./adapter.ts";
import { httpAdapter } from "./http/adapter.ts";
import { tcp } from "./tcp.ts";

export const protocols = {
  http: httpAdapter,
  tcp,
} satisfies Record<string, ProtocolAdapter>;

export function getProtocol(name: string): ProtocolAdapter | null {
  return Object.hasOwn(protocols, name) ? (protocols as Record<string, ProtocolAdapter>)[name] : null;
}
