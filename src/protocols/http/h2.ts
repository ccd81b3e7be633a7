// HTTP/2 to clients (RFC 9113), only after TLS with ALPN "h2" (no h2c: a plain listener never feeds
// this server; "PRI * HTTP/2.0" on HTTP/1 is refused by node:http). node:http2 (nghttp2) enforces the
// framing, pseudo-header and connection-header rules and the rapid-reset mitigation; each stream is one
// request and one unit of work for the schedulers. A session with no open stream is closed (GOAWAY)
// after timeouts.idle; header blocks are bounded by limits.max_header_size.
import type { Http2Server, Http2Session, ServerHttp2Stream, IncomingHttpHeaders } from "node:http2";
import type { TLSSocket } from "node:tls";
import type { ListenerPlan } from "../../config/schema.ts";
import { nodeHttp2 } from "../../core/builtins.ts";

export type StreamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, raw: string[]) => void;

/** Streams a client may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
const MAX_STREAMS = 128;

export class H2Front {
  readonly #server: Http2Server;
  /** Open sessions and their open stream counts. */
  readonly #sessions = new Map<Http2Session, number>();
  #idleMs: number;

  constructor(plan: ListenerPlan, onStream: StreamHandler) {
    this.#idleMs = plan.timeouts.idleMs;
    this.#server = nodeHttp2().createServer({
      settings: { maxConcurrentStreams: MAX_STREAMS, maxHeaderListSize: plan.limits.maxHeaderSize, enablePush: false },
      // our own check answers 431 above limits.max_headers; nghttp2's cap sits above it
      maxHeaderListPairs: Math.max(128, plan.limits.maxHeaders * 2 + 16),
      maxSessionMemory: 32,
      peerMaxConcurrentStreams: MAX_STREAMS,
    });
    this.#server.on("session", this.#onSession);
    this.#server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, raw: string[]) => {
      const session = stream.session;
      if (session !== undefined) this.#count(session, 1);
      stream.on("error", noop);
      stream.once("close", () => { if (session !== undefined) this.#count(session, -1); });
      onStream(stream, headers, flags, raw);
    });
  }

  /** New settings after a reload (sessions opened from now on). */
  update(plan: ListenerPlan): void {
    this.#idleMs = plan.timeouts.idleMs;
  }

  /** A TLS socket whose ALPN chose "h2". */
  serve(sock: TLSSocket): void {
    this.#server.emit("connection", sock);
  }

  readonly #onSession = (session: Http2Session): void => {
    this.#sessions.set(session, 0);
    session.on("error", noop);
    session.setTimeout(this.#idleMs, () => {
      // inactivity: close only a session without open streams (a long request is the upstream timers' business)
      if ((this.#sessions.get(session) ?? 0) === 0) session.close();
    });
    session.once("close", () => this.#sessions.delete(session));
  };

  #count(session: Http2Session, d: number): void {
    const n = this.#sessions.get(session);
    if (n !== undefined) this.#sessions.set(session, n + d);
  }

  /** Graceful: GOAWAY to every session; open streams finish. */
  drain(): void {
    for (const s of this.#sessions.keys()) if (!s.closed) s.close();
  }

  /** Deadline: every session destroyed. */
  forceClose(): void {
    for (const s of this.#sessions.keys()) s.destroy();
    this.#sessions.clear();
  }
}

function noop(): void { /* failures surface as stream/session close */ }
