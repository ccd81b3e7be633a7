// TLS termination for an HTTP listener: one SecureContext per certificate, chosen by SNI (exact name,
// then "*.parent" for one label, then the default: the entry without hosts, else the first), minimum
// TLS 1.2, ALPN h2 and http/1.1. Certificates are read when the listener's plan changes (each reload
// builds a new plan, so renewed files at the same paths are picked up) or on reloadCertificates(); a
// failed read keeps the previous certificates and logs why.
import { fs, nodeTls } from "../../core/builtins.ts";
import type { SecureContext, Server as TlsServer, TLSSocket } from "node:tls";
import type { Socket } from "node:net";
import type { TlsCertPlan } from "../../config/schema.ts";

export interface CertSet {
  readonly exact: ReadonlyMap<string, SecureContext>;
  /** "example.com" for a "*.example.com" entry. */
  readonly wildcard: ReadonlyMap<string, SecureContext>;
  readonly fallback: SecureContext;
  /** The default certificate's PEM files (handshakes without SNI use the server's own context). */
  readonly fallbackPem: { readonly cert: Buffer; readonly key: Buffer };
}

/** Reads every certificate and key; throws with the file named when one cannot be read or parsed. */
export function loadCerts(plan: readonly TlsCertPlan[]): CertSet {
  const exact = new Map<string, SecureContext>();
  const wildcard = new Map<string, SecureContext>();
  let fallback: { ctx: SecureContext; cert: Buffer; key: Buffer } | null = null;
  let first: { ctx: SecureContext; cert: Buffer; key: Buffer } | null = null;
  for (const c of plan) {
    let ctx: SecureContext;
    let cert: Buffer;
    let key: Buffer;
    try {
      cert = fs.readFileSync(c.cert);
      key = fs.readFileSync(c.key);
      ctx = nodeTls().createSecureContext({ cert, key, minVersion: "TLSv1.2" });
    } catch (err) {
      throw new Error(`certificate ${c.cert} / key ${c.key}: ${(err as Error).message}`);
    }
    first ??= { ctx, cert, key };
    if (c.hosts.length === 0) fallback = { ctx, cert, key };
    for (const h of c.hosts) {
      if (h.startsWith("*.")) wildcard.set(h.slice(2), ctx);
      else exact.set(h, ctx);
    }
  }
  if (first === null) throw new Error("tls needs at least one certificate");
  const d = fallback ?? first;
  return { exact, wildcard, fallback: d.ctx, fallbackPem: { cert: d.cert, key: d.key } };
}

/** The context for an SNI name (lower-cased; a trailing dot ignored). */
export function pickCert(set: CertSet, servername: string): SecureContext {
  const name = servername.toLowerCase().replace(/\.$/, "");
  const hit = set.exact.get(name);
  if (hit !== undefined) return hit;
  const dot = name.indexOf(".");
  if (dot > 0) {
    const w = set.wildcard.get(name.slice(dot + 1));
    if (w !== undefined) return w;
  }
  return set.fallback;
}

export class TlsTerminator {
  #set: CertSet;
  #plan: readonly TlsCertPlan[];
  readonly #onError: (msg: string) => void;
  /** Never listens: the Listener feeds it accepted sockets; it emits secureConnection once the handshake is done. */
  readonly #server: TlsServer;

  /**
   * Throws when the certificates cannot be loaded (a listener must not start without them).
   * `onSecure` gets each socket once its handshake is done (socket.alpnProtocol: "h2", "http/1.1" or
   * false); a handshake not done within handshakeMs, or a failed one, destroys the socket.
   */
  constructor(plan: readonly TlsCertPlan[], handshakeMs: number, onSecure: (s: TLSSocket) => void, onError: (msg: string) => void) {
    this.#plan = plan;
    this.#set = loadCerts(plan);
    this.#onError = onError;
    this.#server = nodeTls().createServer({
      cert: this.#set.fallbackPem.cert,
      key: this.#set.fallbackPem.key,
      SNICallback: this.#sni,
      ALPNProtocols: ["h2", "http/1.1"],
      minVersion: "TLSv1.2",
      handshakeTimeout: handshakeMs,
      requestCert: false,
    });
    this.#server.on("secureConnection", onSecure);
    // handshake timeout or failure: nothing can be answered in HTTP; the connection is closed
    this.#server.on("tlsClientError", (_err: Error, sock: TLSSocket) => { sock.destroy(); });
  }

  /** Re-reads the certificates when `plan` is not the one loaded (a reload); keeps the old set on failure. */
  sync(plan: readonly TlsCertPlan[]): void {
    if (plan === this.#plan) return;
    this.#plan = plan;
    this.reload();
  }

  /** Re-reads the certificate files now; true when the new set is in use. */
  reload(): boolean {
    try {
      const set = loadCerts(this.#plan);
      this.#server.setSecureContext({ cert: set.fallbackPem.cert, key: set.fallbackPem.key, minVersion: "TLSv1.2" });
      this.#set = set;
      return true;
    } catch (err) {
      this.#onError(`TLS certificates not reloaded, the previous ones stay in use: ${(err as Error).message}`);
      return false;
    }
  }

  readonly #sni = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    cb(null, pickCert(this.#set, servername));
  };

  /** Starts the server side of TLS on an accepted TCP socket (clients without SNI get the default certificate). */
  accept(raw: Socket): void {
    raw.on("error", noop); // a reset under the TLS layer ends it through close; never an unhandled 'error'
    this.#server.emit("connection", raw);
  }
}

function noop(): void { /* handshake failures and resets end the socket */ }
