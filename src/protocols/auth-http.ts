// nginx-compatible auth_http hook (protocols.md 4.1 phases B and C; nginx ngx_mail_auth_http_module
// docs): for migrations, a mail listener with `auth_http: http://...` asks that HTTP service which
// server takes the session, with nginx's request headers (Auth-Method, Auth-User, Auth-Pass
// URL-escaped, Auth-Protocol, Auth-Login-Attempt, Client-IP, Auth-SMTP-Helo/From/To, Auth-SSL) and
// reads nginx's response headers (Auth-Status, Auth-Server, Auth-Port, Auth-User, Auth-Pass,
// Auth-Wait, Auth-Error-Code). Only headers matter: the body is ignored, the status code too.
import type { IncomingMessage } from "node:http";
import { nodeHttp } from "../core/builtins.ts";
import net from "node:net";

export interface AuthHttpRequest {
  readonly protocol: "imap" | "pop3" | "smtp";
  /** "plain" for a login, "none" for SMTP without AUTH. */
  readonly method: "plain" | "none";
  readonly user: string;
  readonly pass: string;
  /** 1 for the session's first login attempt, then 2, 3 ... */
  readonly attempt: number;
  readonly clientIp: string;
  readonly secure: boolean;
  /** SMTP: the client's HELO name, MAIL FROM and RCPT TO lines' arguments; null for IMAP/POP3. */
  readonly helo: string | null;
  readonly from: string | null;
  readonly to: string | null;
}

export type AuthHttpAnswer =
  /** Use host:port; user/pass (when non-null) replace the client's credentials toward the server. */
  | { readonly kind: "ok"; readonly host: string; readonly port: number; readonly user: string | null; readonly pass: string | null }
  /** The service said no: the message for the client, the SMTP code, and whether the client may try again (Auth-Wait). */
  | { readonly kind: "refused"; readonly message: string; readonly code: string | null; readonly retry: boolean }
  /** The service could not be asked or answered nonsense: a temporary failure. */
  | { readonly kind: "error"; readonly detail: string };

/** Auth-Wait / WAIT sleeps are capped here (seconds); WAIT is asked again at most this many times. */
const MAX_WAIT_S = 10;
const MAX_WAIT_ROUNDS = 3;

function header(res: IncomingMessage, name: string): string | null {
  const v = res.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined ? null : s.replace(/[\r\n]/g, " ").trim();
}

function once(url: string, r: AuthHttpRequest, timeoutMs: number): Promise<IncomingMessage | Error> {
  const headers: Record<string, string> = {
    "Auth-Method": r.method,
    "Auth-User": encodeURIComponent(r.user),
    "Auth-Pass": encodeURIComponent(r.pass),
    "Auth-Protocol": r.protocol,
    "Auth-Login-Attempt": String(r.attempt),
    "Client-IP": r.clientIp,
  };
  if (r.secure) headers["Auth-SSL"] = "on";
  if (r.helo !== null) headers["Auth-SMTP-Helo"] = r.helo;
  if (r.from !== null) headers["Auth-SMTP-From"] = r.from;
  if (r.to !== null) headers["Auth-SMTP-To"] = r.to;
  return new Promise((resolve) => {
    const req = nodeHttp().request(url, { method: "GET", headers, timeout: timeoutMs, agent: false }, (res) => {
      res.resume(); // the body is ignored
      resolve(res);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (err) => resolve(err));
    req.end();
  });
}

function sleep(s: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.min(MAX_WAIT_S, Math.max(0, s)) * 1000));
}

/** Asks the auth_http service; never throws. */
export async function askAuthHttp(url: string, r: AuthHttpRequest, timeoutMs: number): Promise<AuthHttpAnswer> {
  for (let round = 0; ; round++) {
    const res = await once(url, r, timeoutMs);
    if (res instanceof Error) return { kind: "error", detail: `auth_http ${url}: ${res.message}` };
    const status = header(res, "auth-status");
    if (status === null) return { kind: "error", detail: `auth_http ${url}: no Auth-Status header` };
    const wait = header(res, "auth-wait");
    const waitS = wait !== null && /^\d+$/.test(wait) ? Number(wait) : null;
    if (status === "OK") {
      const host = header(res, "auth-server");
      const port = Number(header(res, "auth-port"));
      if (host === null || net.isIP(host) === 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
        return { kind: "error", detail: `auth_http ${url}: Auth-Status OK without a literal Auth-Server IP and Auth-Port` };
      }
      return { kind: "ok", host, port, user: header(res, "auth-user"), pass: header(res, "auth-pass") };
    }
    if (status === "WAIT") {
      if (round + 1 >= MAX_WAIT_ROUNDS) return { kind: "error", detail: `auth_http ${url}: still WAIT after ${MAX_WAIT_ROUNDS} rounds` };
      await sleep(waitS ?? 1);
      continue;
    }
    if (waitS !== null) await sleep(waitS);
    return { kind: "refused", message: status, code: header(res, "auth-error-code"), retry: waitS !== null };
  }
}
