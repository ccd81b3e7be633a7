// Upgrade / WebSocket relay (RFC 9110 §7.8, RFC 6455 §4): the request is routed and sent like any other
// (front checks, keys, headers), with Connection: upgrade + Upgrade. A 101 turns both connections into
// a byte tunnel that holds its lease (active work for the scheduler) until both halves are closed,
// with its own idle timeout (timeouts.tunnel: no byte either way). Any other answer (426, 401, 200 ...)
// is relayed as an ordinary response and the client connection goes back to the HTTP parser, so a
// request that follows is routed on its own (hardening.md H29: no tunnel without a 101).
import { nodeHttp, nodeHttps } from "../../core/builtins.ts";
import type { ClientRequest, IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Route } from "../../core/route.ts";
import type { Lease } from "../../upstream/pool.ts";
import type { ServerView } from "../../upstream/server.ts";
import type { ListenerPlan } from "../../config/schema.ts";
import type { Outcome } from "../../core/types.ts";
import { agentFor, serverName } from "./upstreams.ts";
import { clientResponseHeaders, upgradeResponseHeaders } from "./headers.ts";
import { rawErrorResponse, type HttpErrorCause } from "./responses.ts";
import type { ProxyRequest } from "./front.ts";
import type { ForwardDone } from "./forward.ts";

export interface TunnelInput {
  readonly pr: ProxyRequest;
  readonly headers: string[];
  readonly client: Socket;
  /** Bytes the client sent after the request head. */
  readonly head: Buffer;
  readonly clientIp: string;
  readonly clientPort: number;
  /** Hands the client connection back to the HTTP/1 parser (after a non-101 answer). */
  readonly reparse: (client: Socket) => void;
}

const REASONS: Record<number, string> = { 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout" };

/** Open tunnels of one handler, for forceClose(). */
export type TunnelSet = Set<Tunnel>;

export class Tunnel {
  readonly #in: TunnelInput;
  readonly #route: Route;
  readonly #plan: ListenerPlan;
  readonly #key: string | null;
  readonly #done: (d: ForwardDone) => void;
  readonly #set: TunnelSet;
  #lease: Lease | null = null;
  #exclude: Set<ServerView> | null = null;
  #tries = 0;
  #up: ClientRequest | null = null;
  #upSocket: Socket | null = null;
  #connected = false;
  #connectTimer: NodeJS.Timeout | null = null;
  #status = 0;
  #upMs: number | null = null;
  #tStart = 0;
  #bytes = 0;
  #finished = false;
  #open = 0;

  constructor(input: TunnelInput, route: Route, plan: ListenerPlan, key: string | null, set: TunnelSet, done: (d: ForwardDone) => void) {
    this.#in = input;
    this.#route = route;
    this.#plan = plan;
    this.#key = key;
    this.#set = set;
    this.#done = done;
    input.client.on("error", noop);
    input.client.once("close", this.#onClientGone);
  }

  start(): void {
    const pool = this.#route.pool;
    const lease = pool.acquire({ key: this.#key, port: this.#in.clientPort, exclude: this.#exclude }, this.#in.clientIp);
    if (lease === null) {
      if (this.#tries === 0) { pool.refusals++; this.#refuse(503, "no-server", null); }
      else this.#refuse(502, "connect-failed", null);
      return;
    }
    if (this.#tries > 0) pool.retries++;
    this.#tries++;
    this.#lease = lease;
    const s = lease.server;
    const tls = pool.plan.tls;
    this.#tStart = performance.now();
    this.#connected = false;
    const up = (tls === null ? nodeHttp() : nodeHttps()).request({
      agent: agentFor(tls), host: s.host, port: s.port, servername: serverName(tls, s.host),
      method: this.#in.pr.method, path: this.#in.pr.target, headers: this.#in.headers,
      setHost: this.#in.pr.authority === null, insecureHTTPParser: false,
    });
    this.#up = up;
    up.setTimeout(this.#plan.timeouts.upstreamResponseMs, this.#onUpTimeout);
    up.on("socket", this.#onSocket);
    up.on("upgrade", this.#onUpgrade);
    up.on("response", this.#onResponse);
    up.on("error", this.#onUpError);
    up.end();
  }

  readonly #onSocket = (sock: Socket): void => {
    this.#upSocket = sock;
    if (this.#up?.reusedSocket === true || !sock.connecting) { this.#onConnected(); return; }
    this.#connectTimer = setTimeout(() => { if (!this.#connected) this.#up?.destroy(codeError("ECONNTIMEOUT")); }, this.#plan.timeouts.connectMs);
    sock.once(this.#route.pool.plan.tls === null ? "connect" : "secureConnect", this.#onConnected);
  };

  readonly #onConnected = (): void => {
    this.#connected = true;
    if (this.#connectTimer !== null) { clearTimeout(this.#connectTimer); this.#connectTimer = null; }
  };

  readonly #onUpTimeout = (): void => { this.#up?.destroy(codeError("ETIMEDOUT")); };

  readonly #onUpError = (err: Error): void => {
    if (this.#finished || this.#status !== 0) return;
    const code = (err as NodeJS.ErrnoException).code ?? "";
    const connectFailed = !this.#connected;
    const timedOut = code === "ETIMEDOUT";
    const outcome: Outcome = connectFailed ? (code === "ECONNTIMEOUT" ? "connect-timeout" : "connect-refused") : timedOut ? "upstream-timeout" : "upstream-reset";
    const lease = this.#lease;
    this.#lease = null;
    this.#drop();
    if (lease !== null) { lease.release(outcome); (this.#exclude ??= new Set()).add(lease.server); }
    // nothing reached the server on a failed connect: another server may take the handshake
    if (connectFailed && this.#tries <= this.#route.pool.plan.retries && !this.#in.client.destroyed) { this.start(); return; }
    if (timedOut) this.#refuse(504, "upstream-timeout", null);
    else this.#refuse(502, connectFailed ? "connect-failed" : "upstream-reset", code === "" ? null : code);
  };

  /** 101: write the handshake answer to the client, then relay bytes both ways until both sides close. */
  readonly #onUpgrade = (res: IncomingMessage, upSock: Socket, upHead: Buffer): void => {
    const client = this.#in.client;
    this.#status = 101;
    this.#upMs = performance.now() - this.#tStart;
    this.#up?.removeListener("error", this.#onUpError);
    this.#up?.setTimeout(0);
    if (client.destroyed) { upSock.destroy(); this.#finish("client-aborted"); return; }
    const h = upgradeResponseHeaders(res.rawHeaders);
    let head = `HTTP/1.1 101 ${res.statusMessage !== undefined && res.statusMessage !== "" ? res.statusMessage : "Switching Protocols"}\r\n`;
    for (let i = 0; i < h.length; i += 2) head += `${h[i]}: ${h[i + 1]}\r\n`;
    client.write(`${head}\r\n`, "latin1");
    if (upHead.length > 0) client.write(upHead);
    if (this.#in.head.length > 0) upSock.write(this.#in.head);
    this.#upSocket = upSock;
    this.#set.add(this);
    this.#open = 2;
    upSock.on("error", noop);
    client.removeListener("close", this.#onClientGone);
    client.setTimeout(this.#plan.timeouts.tunnelMs, this.#onIdle);
    client.setNoDelay(true);
    upSock.setNoDelay(true);
    upSock.on("data", this.#countUp);
    client.pipe(upSock);
    upSock.pipe(client);
    client.once("close", this.#onSideClosed);
    upSock.once("close", this.#onSideClosed);
    upSock.resume();
    client.resume();
  };

  readonly #countUp = (c: Buffer): void => { this.#bytes += c.length; };

  readonly #onIdle = (): void => { this.close(); };

  readonly #onSideClosed = (): void => {
    // one side is gone: finish writing what was read to the other, then close it
    const a = this.#in.client;
    const b = this.#upSocket;
    if (--this.#open > 0) {
      if (a.destroyed) b?.destroySoon(); else a.destroySoon();
      return;
    }
    this.#set.delete(this);
    this.#finish(null);
  };

  /** Close both halves now (idle timeout, forced stop). */
  close(): void {
    this.#in.client.destroy();
    this.#upSocket?.destroy();
  }

  /** Any answer other than 101: relay it as a response, then the connection speaks HTTP again. */
  readonly #onResponse = (res: IncomingMessage): void => {
    const client = this.#in.client;
    const status = res.statusCode ?? 502;
    this.#status = status;
    this.#upMs = performance.now() - this.#tStart;
    if (client.destroyed) { res.resume(); this.#drop(); this.#finish("client-aborted"); return; }
    const h = clientResponseHeaders(res.rawHeaders, status, false);
    const bodyless = status === 204 || status === 304 || status < 200;
    let hasLength = false;
    for (let i = 0; i < h.length; i += 2) if (h[i].toLowerCase() === "content-length") hasLength = true;
    const chunked = !bodyless && !hasLength;
    let head = `HTTP/1.1 ${status} ${res.statusMessage ?? ""}\r\n`;
    for (let i = 0; i < h.length; i += 2) head += `${h[i]}: ${h[i + 1]}\r\n`;
    if (chunked) head += "transfer-encoding: chunked\r\n";
    client.write(`${head}\r\n`, "latin1");
    res.on("data", (c: Buffer) => {
      if (bodyless) return;
      this.#bytes += c.length;
      const ok = chunked ? client.write(`${c.length.toString(16)}\r\n`) && client.write(c) && client.write("\r\n") : client.write(c);
      if (!ok) { res.pause(); client.once("drain", () => res.resume()); }
    });
    res.on("error", noop);
    res.on("close", () => {
      if (this.#finished) return;
      if (!res.complete) {
        // cut off: never completed for the client
        client.destroy();
        this.#finish("upstream-reset");
        return;
      }
      if (chunked) client.write("0\r\n\r\n");
      this.#finish(null);
      client.removeListener("close", this.#onClientGone);
      client.removeListener("error", noop);
      if (client.destroyed) return;
      if (this.#in.head.length > 0) client.unshift(this.#in.head);
      this.#in.reparse(client);
    });
  };

  readonly #onClientGone = (): void => {
    if (this.#finished) return;
    this.#drop();
    this.#finish("client-aborted");
  };

  #drop(): void {
    if (this.#connectTimer !== null) { clearTimeout(this.#connectTimer); this.#connectTimer = null; }
    const up = this.#up;
    if (up === null) return;
    this.#up = null;
    up.removeAllListeners();
    up.on("error", noop);
    up.destroy();
  }

  /** The proxy's own answer on the raw socket, then close: nothing after the head is parsed as a request. */
  #refuse(status: number, cause: HttpErrorCause, detail: string | null): void {
    const client = this.#in.client;
    if (!client.destroyed) client.end(rawErrorResponse(status, REASONS[status] ?? "Error", cause, detail), "latin1");
    this.#status = status;
    this.#finish(cause);
  }

  #finish(error: HttpErrorCause | "client-aborted" | null): void {
    if (this.#finished) return;
    this.#finished = true;
    const lease = this.#lease;
    this.#lease = null;
    lease?.release(error === null || error === "client-aborted" ? (error === null ? "ok" : "client-aborted") : "upstream-reset");
    this.#done({
      status: error === "client-aborted" ? 499 : this.#status,
      upstreamAddr: lease?.server.address ?? null,
      upstreamStatus: this.#status === 0 ? null : this.#status,
      upstreamMs: this.#upMs,
      bytesSent: this.#bytes,
      error: error === "client-aborted" ? null : error,
      tries: this.#tries,
    });
  }
}

function codeError(code: string): Error {
  return Object.assign(new Error(code), { code });
}

function noop(): void { /* reported through close */ }
