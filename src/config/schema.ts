// The normalised runtime plan: what config/load.ts produces and every runtime part trusts.
// Nothing is optional here: defaults are applied by config/plan.ts; durations are milliseconds,
// sizes are bytes. Field docs are the user documentation (meaning, unit, default).
import type { Address, KeyKind, ProtocolName } from "../core/types.ts";

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
export type HealthType = "none" | "tcp" | "http" | "mysql" | "smtp" | "pop3" | "imap";

export interface LogPlan {
  /** Log level (default info). */
  readonly level: LogLevel;
  /** One access line per HTTP request / TCP or mail session (default true). */
  readonly access: boolean;
  /** "json" (default) or "combined" (the classic nginx/Apache line, as the `msg`). */
  readonly accessFormat: "json" | "combined";
}

export interface AdminPlan {
  /** Admin listener address (loopback unless you say otherwise). */
  readonly listen: Address;
  /** When non-null, /api/* and the /status controls need "Authorization: Bearer <token>". */
  readonly token: string | null;
}

export interface HealthPlan {
  readonly type: HealthType;
  /** Time between probes of one server (default 2s). */
  readonly intervalMs: number;
  /** One probe's limit (default 1s). */
  readonly timeoutMs: number;
  /** Consecutive passes to mark a server up (default 2). */
  readonly rise: number;
  /** Consecutive failures to mark a server down (default 3). */
  readonly fall: number;
  /** HTTP: request method (default GET), path (default /), Host header (default the server address). */
  readonly method: string;
  readonly path: string;
  readonly host: string | null;
  /** HTTP: accepted status range, inclusive (default 200-399). */
  readonly expectLow: number;
  readonly expectHigh: number;
  /** HTTP: a substring the body must contain (default none). */
  readonly body: string | null;
  /** MySQL: when set, log in as this user (password below) and send COM_QUIT. */
  readonly user: string | null;
  readonly password: string | null;
  /** SMTP: the name sent in EHLO (default "switchyard"). */
  readonly helo: string;
  /** Port to probe instead of the server's own (default null: the server's port). */
  readonly port: number | null;
}

export interface PassivePlan {
  /** Failures within failTimeout that take a server out (0 = passive health off; default 3). */
  readonly maxFails: number;
  /** The counting window and the time out (default 10s). */
  readonly failTimeoutMs: number;
}

export interface ServerPlan {
  /** Identity across reloads and in the admin API: the address as configured. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** 0..65535; 0 = quiesced (default 1). */
  readonly weight: number;
  /** Above this many open units the server counts as overloaded (0 = no limit; default 0). */
  readonly maxConns: number;
  /** Used only when no primary server is eligible (default false). */
  readonly backup: boolean;
}

/** A server entry found by DNS (issue: service discovery); re-resolved every resolveIntervalMs. */
export interface DnsServerPlan {
  readonly kind: "dns" | "srv";
  readonly name: string;
  readonly port: number;       // for "dns"; 0 for "srv"
  readonly weight: number;
  readonly maxConns: number;
  readonly backup: boolean;
}

export interface UpstreamPlan {
  readonly name: string;
  /** A registered scheduler name (default wlc). */
  readonly scheduler: string;
  /** IPVS scheduler flags: sh-fallback, sh-port, mh-fallback, mh-port. */
  readonly schedFlags: readonly string[];
  readonly health: HealthPlan;
  readonly passive: PassivePlan;
  /** Other servers tried when connecting fails (default 2). */
  readonly retries: number;
  /** A server coming up ramps its weight from 1 over this time (0 = off; default 0). */
  readonly slowStartMs: number;
  /** HTTP: cookie affinity; null = off. */
  readonly sticky: { readonly cookie: string } | null;
  /** IPVS persistence templates; null = off. */
  readonly persistence: { readonly timeoutMs: number; readonly netmask: number; readonly expireQuiescent: boolean } | null;
  /** How long a finished unit still counts as "inactive" for lc/wlc (default 1s). */
  readonly inactiveLingerMs: number;
  /** Dial timeout for a new upstream connection (default 5s; HTTP listeners use their own timeouts.connect). */
  readonly connectTimeoutMs: number;
  readonly servers: readonly ServerPlan[];
  readonly dnsServers: readonly DnsServerPlan[];
  /** DNS server for dns/srv entries; null = the system's resolvers. */
  readonly resolver: Address | null;
  readonly resolveIntervalMs: number;
  /** Upstream TLS (HTTP pools): null = plain. */
  readonly tls: { readonly ca: string | null; readonly servername: string | null; readonly verify: boolean } | null;
}

export interface RouteMatchPlan {
  /** Lower-case host without port; null = any. */
  readonly host: string | null;
  /** Path prefix; null = any. */
  readonly pathPrefix: string | null;
}

export interface RoutePlan {
  readonly match: RouteMatchPlan;
  readonly upstream: string;
  /** The scheduler key; null = the scheduler's default (or source). */
  readonly key: KeyKind | null;
}

export interface TlsCertPlan {
  /** SNI names this certificate serves; empty = the default certificate. */
  readonly hosts: readonly string[];
  readonly cert: string;   // file path
  readonly key: string;    // file path
}

export interface HttpTimeoutsPlan {
  readonly connectMs: number;          // default 5s
  readonly headerMs: number;           // default 30s: whole request head from the client
  readonly idleMs: number;             // default 60s: keep-alive idle between requests
  readonly upstreamResponseMs: number; // default 60s: time to the upstream response head
  readonly bodyMs: number;             // default 60s: request body idle gap (and below 1 KiB/s on average)
  readonly sendMs: number;             // default 60s: a response write to the client that makes no progress
  readonly tunnelMs: number;           // default 1h: WebSocket/Upgrade tunnel idle (no byte either way)
}

export interface LimitsPlan {
  readonly maxHeaderSize: number;      // bytes, default 16kb
  readonly maxBodySize: number;        // bytes, default 10mb (0 = unlimited)
  readonly maxConnections: number;     // default 10000
  readonly maxHeaders: number;         // HTTP: header lines in a request head, default 100 (431 beyond)
}

export interface ListenerPlan {
  readonly name: string;
  readonly protocol: ProtocolName;
  readonly listen: Address;
  /** Routes, first match wins. Non-HTTP listeners have exactly one (from `upstream:`). */
  readonly routes: readonly RoutePlan[];
  /** PROXY protocol header sent to upstream servers; null = none. */
  readonly proxyProtocol: "v1" | "v2" | null;
  /** Client-facing TLS (HTTP: termination; mail: STARTTLS, or implicit with implicitTls). */
  readonly tls: readonly TlsCertPlan[] | null;
  readonly implicitTls: boolean;
  readonly timeouts: HttpTimeoutsPlan;
  readonly limits: LimitsPlan;
  /** TCP/MySQL/mail: session idle timeout (default 10m, mail pre-login 60s). */
  readonly idleTimeoutMs: number;
  /** Mail: the name in the greeting and EHLO (default the host name). */
  readonly hostname: string;
  /** SMTP: send XCLIENT with the real client address (default false). */
  readonly xclient: boolean;
  /** Mail: protocol errors before the session is closed (default 5). */
  readonly maxErrors: number;
  /** Mail: nginx-style auth_http URL; null = off. */
  readonly authHttp: string | null;
}

export interface RuntimePlan {
  /** The file this plan came from (or "<env>" for SWITCHYARD_CONFIG_YAML). */
  readonly file: string;
  /** Worker processes (default 1; "auto" = CPUs). */
  readonly workers: number;
  /** Reload when the file changes (default false). */
  readonly watch: boolean;
  readonly shutdownTimeoutMs: number;     // default 30s
  readonly pidFile: string | null;
  readonly log: LogPlan;
  readonly admin: AdminPlan | null;
  readonly upstreams: ReadonlyMap<string, UpstreamPlan>;
  readonly listeners: readonly ListenerPlan[];
  /** Demo origin servers to start in-process (`demo: { origins: [...] }`; default none). */
  readonly demo: readonly Address[];
}
