// Protocol registry: config keyword -> adapter. One line per protocol.
import type { ProtocolAdapter } from "./adapter.ts";
import { httpAdapter } from "./http/adapter.ts";
import { tcp } from "./tcp.ts";
import { mysql } from "./mysql.ts";
import { smtp } from "./smtp.ts";
import { pop3 } from "./pop3.ts";
import { imap } from "./imap.ts";

export const protocols = {
  http: httpAdapter,
  tcp,
  mysql,
  smtp,
  pop3,
  imap,
} satisfies Record<string, ProtocolAdapter>;

export function getProtocol(name: string): ProtocolAdapter | null {
  return Object.hasOwn(protocols, name) ? (protocols as Record<string, ProtocolAdapter>)[name] : null;
}
