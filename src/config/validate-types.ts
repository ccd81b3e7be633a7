// Config: the file as validated, in units (ms, bytes, Address) but before defaults. An absent key is
// undefined here; plan.ts fills every default and derives the RuntimePlan. Internal to config/.
import type { Address, KeyKind, ProtocolName } from "../core/types.ts";
import type { HealthType, LogLevel, TlsCertPlan } from "./schema.ts";

export interface HealthConfig {
  readonly type: HealthType;
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  readonly rise?: number;
  readonly fall?: number;
  readonly method?: string;
  readonly path?: string;
  readonly host?: string;
  readonly expect?: { readonly low: number; readonly high: number };
  readonly body?: string;
  readonly user?: string;
  readonly password?: string;
  readonly helo?: string;
  readonly port?: number;
}

export type ServerConfig =
  | { readonly kind: "static"; readonly address: Address; readonly weight?: number; readonly maxConns?: number; readonly backup?: boolean }
  | {
      readonly kind: "dns" | "srv"; readonly name: string; readonly port: number;
      readonly weight?: number; readonly maxConns?: number; readonly backup?: boolean;
    };

export interface UpstreamConfig {
  readonly name: string;
  readonly scheduler?: string;
  readonly schedFlags?: readonly string[];
  readonly health?: HealthConfig;
  /** false = passive health off. */
  readonly passive?: { readonly maxFails?: number; readonly failTimeoutMs?: number } | false;
  readonly retries?: number;
  readonly slowStartMs?: number;
  /** false = off. */
  readonly sticky?: { readonly cookie?: string } | false;
  readonly persistence?: { readonly timeoutMs?: number; readonly netmask?: number; readonly expireQuiescent?: boolean } | false;
  readonly inactiveLingerMs?: number;
  readonly connectTimeoutMs?: number;
  readonly resolver?: Address;
  readonly resolveIntervalMs?: number;
  readonly tls?: { readonly ca?: string; readonly servername?: string; readonly verify?: boolean } | false;
  readonly servers: readonly ServerConfig[];
}

export interface RouteConfig {
  readonly host?: string;
  readonly pathPrefix?: string;
  readonly upstream: string;
  readonly key?: KeyKind;
}

export interface ListenerConfig {
  readonly name: string;
  readonly protocol: ProtocolName;
  readonly listen: Address;
  readonly routes: readonly RouteConfig[];
  readonly proxyProtocol?: "v1" | "v2" | null;
  readonly tls?: readonly TlsCertPlan[];
  readonly implicitTls?: boolean;
  readonly timeouts?: {
    readonly connectMs?: number; readonly headerMs?: number; readonly idleMs?: number; readonly upstreamResponseMs?: number;
    readonly bodyMs?: number; readonly sendMs?: number; readonly tunnelMs?: number;
  };
  readonly limits?: { readonly maxHeaderSize?: number; readonly maxBodySize?: number; readonly maxConnections?: number; readonly maxHeaders?: number };
  readonly idleTimeoutMs?: number;
  readonly hostname?: string;
  readonly xclient?: boolean;
  readonly maxErrors?: number;
  readonly authHttp?: string;
}

export interface Config {
  readonly workers?: number | "auto";
  readonly watch?: boolean;
  readonly shutdownTimeoutMs?: number;
  readonly pidFile?: string;
  readonly log?: { readonly level?: LogLevel; readonly access?: boolean; readonly accessFormat?: "json" | "combined" };
  readonly admin?: { readonly listen?: Address; readonly token?: string };
  readonly upstreams: readonly UpstreamConfig[];
  readonly listeners: readonly ListenerConfig[];
  readonly demo: readonly Address[];
}
