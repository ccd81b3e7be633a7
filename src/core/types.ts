// Shared nouns used across listeners, pools, schedulers and health checks.

/** Listener protocols; the config keyword of each adapter. */
export type ProtocolName = "http" | "tcp" | "mysql" | "smtp" | "pop3" | "imap";

/** What the hashing/locality schedulers hash (config.md "Scheduler keys"). */
export type KeyKind =
  | "source" | "destination" | "host" | "path" | "uri" | "user" | "rcpt_domain"
  | `header:${string}` | `cookie:${string}` | `query:${string}`;

/** A resolved listen or server address. `text` is exactly as configured ("127.0.0.1:9001", ":8080"). */
export interface Address {
  readonly host: string;   // "" for all interfaces
  readonly port: number;
  readonly text: string;
}

/** How one unit of upstream work ended; feeds passive health and the access log. */
export type Outcome =
  | "ok"
  | "connect-refused" | "connect-timeout"  // nothing exchanged yet: safe to retry elsewhere
  | "upstream-reset" | "upstream-timeout"  // after connect
  | "upstream-rejected"                    // the protocol said no (5xx in the unhealthy set, SMTP 4xx banner)
  | "client-aborted";                      // not the server's fault: no passive penalty

/** Why a listener refuses a client in its own protocol. */
export type RefuseReason = "no-server" | "connect-failed" | "timeout" | "shutdown";

/** True for outcomes that count as a server failure for passive health. */
export function isServerFailure(o: Outcome): boolean {
  return o === "connect-refused" || o === "connect-timeout" || o === "upstream-reset" || o === "upstream-timeout";
}
