// The client side of one exchange, HTTP/1.x (h1-server.ts) or HTTP/2 (one node:http2 stream), behind
// one small interface so Forward does not care which. Rules (RFC 9110 §15.2, RFC 9112 §6, RFC 9113 §8.1):
// at most one 100, no 1xx to HTTP/1.0 clients, no body for HEAD/204/304, a cut-off response is never
// completed (HTTP/1: the connection is destroyed; HTTP/2: RST_STREAM), trailers only where they can be sent.
import type { OutgoingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import type { ServerHttp2Stream } from "node:http2";
import { errorHeaders, errorText, type HttpErrorCause } from "./responses.ts";
import type { FastHead } from "./response-head.ts";

// RST_STREAM error codes (RFC 9113 §7; node:http2 constants, not imported so node:http2 loads only with h2)
const NGHTTP2_NO_ERROR = 0x0;
const NGHTTP2_INTERNAL_ERROR = 0x2;
const NGHTTP2_CANCEL = 0x8;

export interface Downstream {
  /** "1.0", "1.1" or "2". */
  readonly version: string;
  /** True once a final response head went out (or a cut-off was decided). */
  headersSent(): boolean;
  /** True once the client side is gone or the exchange was ended. */
  gone(): boolean;
  /** An interim response (100-199 except 101); dropped where the client cannot take it. */
  info(status: number, raw: readonly string[]): void;
  /** The final response head; `bodyless`: HEAD, 204 or 304 (nothing follows). */
  head(status: number, reason: string, headers: string[], bodyless: boolean, wantTrailers: boolean): void;
  /**
   * Where given (HTTP/1): a whole answer at once, head and body, from a response-head.ts head that is
   * `verbatim` (d holds it, valid only during the call), plus a Set-Cookie line when not null.
   */
  whole?(h: FastHead, d: Buffer, setCookie: string | null): void;
  /** One body chunk; false = wait for onDrain before the next. */
  write(chunk: Buffer): boolean;
  onDrain(cb: () => void): void;
  /** The response is complete; trailers as a flat list (null = none). */
  end(trailers: readonly string[] | null): void;
  /** The response is cut off: the client must not see it as complete. */
  abort(): void;
  /** The client stopped reading (send timeout): drop its connection now, unsent bytes included (TCP RST). */
  kill(): void;
  /** Do not reuse this connection after the response (HTTP/1; HTTP/2: reset the unread request half). Call before head(). */
  closeAfter(): void;
  /** The proxy's own answer (a cut-off when a head already went out). */
  error(status: number, cause: HttpErrorCause, detail: string | null): void;
  /** w hears once when the client side closes, after end() or not. */
  onClose(w: ClientWatcher): void;
}

/** Who hears that the client side closed (Forward: no closure per request). */
export interface ClientWatcher {
  clientClosed(): void;
}

/** Where a request body goes. */
export interface BodySink {
  bodyData(chunk: Buffer): void;
  bodyEnd(): void;
}

/** A request body as Forward reads it: started once the upstream connection is up, paused for backpressure. */
export interface BodySource {
  /** Deliver the body: chunks to sink.bodyData, then sink.bodyEnd once. */
  start(sink: BodySink): void;
  pause(): void;
  resume(): void;
  /** No more delivery (the exchange is over). */
  stop(): void;
  /** The request's trailer fields once the body ended (HTTP/1 chunked), flat; null = none. */
  trailers(): readonly string[] | null;
}

/** A Readable (an HTTP/2 request stream) as a BodySource. */
export function readableBody(r: Readable): BodySource {
  let data: ((chunk: Buffer) => void) | null = null;
  return {
    start(sink) {
      const onData = (chunk: Buffer): void => { sink.bodyData(chunk); };
      data = onData;
      r.on("data", onData);
      r.once("end", () => { sink.bodyEnd(); });
      r.on("error", noop); // a client that goes away shows through Downstream.onClose
      r.resume();
    },
    pause() { r.pause(); },
    trailers() { return null; },
    resume() { r.resume(); },
    stop() {
      if (data !== null) r.removeListener("data", data);
      data = null;
      r.pause();
    },
  };
}

function noop(): void { /* see readableBody */ }

/** Flat [name, value, ...] -> node's header object; repeated names become arrays; names lower-cased. */
function toObject(raw: readonly string[], into: OutgoingHttpHeaders): OutgoingHttpHeaders {
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    const prev = into[k];
    if (prev === undefined) into[k] = raw[i + 1];
    else if (Array.isArray(prev)) prev.push(raw[i + 1]);
    else into[k] = [String(prev), raw[i + 1]];
  }
  return into;
}

function trailerPairs(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i], raw[i + 1]]);
  return out;
}

/** The response is complete while the client still sends: RST_STREAM(NO_ERROR) once it is flushed (RFC 9113 §8.1). */
function resetUnread(s: ServerHttp2Stream): void {
  if (s.readableEnded) return;
  const reset = (): void => { if (!s.readableEnded && !s.destroyed) s.close(NGHTTP2_NO_ERROR); };
  if (s.writableFinished) reset();
  else s.once("finish", reset);
}

export class Http2Downstream implements Downstream {
  readonly version = "2";
  readonly #stream: ServerHttp2Stream;
  #bodyless = false;
  #cut = false;
  #closeAfter = false;
  #trailers: readonly string[] | null = null;

  constructor(stream: ServerHttp2Stream) {
    this.#stream = stream;
  }

  headersSent(): boolean { return this.#stream.headersSent || this.#cut; }
  gone(): boolean { return this.#stream.destroyed || this.#stream.closed || this.#stream.writableEnded; }

  info(status: number, raw: readonly string[]): void {
    const s = this.#stream;
    if (status === 100 || s.headersSent || s.destroyed) return; // HTTP/2 clients were not asked to expect 100
    const h = toObject(raw, {});
    for (const k of Object.keys(h)) if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(k) || k === "connection" || k === "keep-alive") delete h[k];
    h[":status"] = status;
    s.additionalHeaders(h);
  }

  head(status: number, _reason: string, headers: string[], bodyless: boolean, wantTrailers: boolean): void {
    const h = toObject(headers, {});
    h[":status"] = status;
    this.#bodyless = bodyless;
    if (wantTrailers && !bodyless) this.#stream.once("wantTrailers", this.#sendTrailers);
    this.#stream.respond(h, { endStream: bodyless, waitForTrailers: wantTrailers && !bodyless });
  }

  readonly #sendTrailers = (): void => {
    const t = this.#trailers;
    const h: OutgoingHttpHeaders = {};
    if (t !== null) toObject(t, h);
    for (const k of Object.keys(h)) if (k.startsWith(":") || k === "content-length" || k === "transfer-encoding" || k === "connection") delete h[k];
    this.#stream.sendTrailers(h);
  };

  write(chunk: Buffer): boolean {
    if (this.#bodyless) return true;
    return this.#stream.write(chunk);
  }

  onDrain(cb: () => void): void { this.#stream.once("drain", cb); }

  end(trailers: readonly string[] | null): void {
    const s = this.#stream;
    this.#trailers = trailers;
    if (!this.#bodyless && !s.writableEnded) s.end();
    if (this.#closeAfter) resetUnread(s);
  }

  abort(): void {
    this.#cut = true;
    if (!this.#stream.destroyed) this.#stream.close(NGHTTP2_INTERNAL_ERROR);
  }

  kill(): void {
    this.#cut = true;
    const session = this.#stream.session;
    // a connection the client does not read at all cannot even carry RST_STREAM: drop it
    if (session !== undefined && session.socket.writableNeedDrain) session.destroy();
    else if (!this.#stream.destroyed) this.#stream.close(NGHTTP2_CANCEL);
  }

  closeAfter(): void { this.#closeAfter = true; }

  error(status: number, cause: HttpErrorCause, detail: string | null): void {
    if (this.headersSent()) { this.abort(); return; }
    const s = this.#stream;
    if (s.destroyed || s.closed) return;
    const body = errorText(status, cause, detail);
    const h = toObject(errorHeaders(cause, body), {});
    h[":status"] = status;
    s.respond(h);
    s.end(body);
    resetUnread(s);
  }

  onClose(w: ClientWatcher): void { this.#stream.once("close", () => { w.clientClosed(); }); }
}
