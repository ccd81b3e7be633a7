// The client side of one exchange, HTTP/1.x (node:http ServerResponse) or HTTP/2 (one stream), behind
// one small interface so Forward does not care which. Rules (RFC 9110 §15.2, RFC 9112 §6, RFC 9113 §8.1):
// at most one 100, no 1xx to HTTP/1.0 clients, no body for HEAD/204/304, a cut-off response is never
// completed (HTTP/1: the connection is destroyed; HTTP/2: RST_STREAM), trailers only where they can be sent.
import type { IncomingMessage, ServerResponse, OutgoingHttpHeaders } from "node:http";
import http2 from "node:http2";
import type { ServerHttp2Stream } from "node:http2";
import { errorHeaders, errorText, type HttpErrorCause } from "./responses.ts";

const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR, NGHTTP2_CANCEL } = http2.constants;

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
  /** Called once when the client side closes, after end() or not. */
  onClose(cb: () => void): void;
}

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

export class Http1Downstream implements Downstream {
  readonly version: string;
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  #sent100 = false;
  #cut = false;

  constructor(req: IncomingMessage, res: ServerResponse) {
    this.#req = req;
    this.#res = res;
    this.version = req.httpVersionMinor === 0 ? "1.0" : "1.1";
    if (this.version === "1.1") {
      req.socket.once("end", this.#onFin);
      res.once("finish", this.#unwatch);
      res.once("close", this.#unwatch);
    }
  }

  /**
   * The client sent FIN while its request is open. A half-close (shutdown(WR) after a full request) must
   * still get its response (hardening.md F09, HAProxy without abortonclose); a client that closed for
   * good must not pin upstream work until a timeout. TCP cannot tell them apart, so the proxy sends an
   * interim "102 Processing" (RFC 9110 §15.2: clients parse any 1xx), twice, 250 ms apart: a closed
   * peer answers the first with RST and the second write fails, which ends the exchange as a client
   * abort; a half-closed peer reads them and then the real answer.
   */
  readonly #onFin = (): void => {
    if (!this.#probe()) return;
    setTimeout(this.#probe, 250).unref();
  };

  readonly #probe = (): boolean => {
    const res = this.#res;
    if (res.headersSent || res.destroyed || res.writableEnded) return false;
    res.writeProcessing();
    return true;
  };

  readonly #unwatch = (): void => { this.#req.socket?.removeListener("end", this.#onFin); };

  headersSent(): boolean { return this.#res.headersSent || this.#cut; }
  gone(): boolean { return this.#res.writableEnded || this.#res.destroyed; }

  info(status: number, raw: readonly string[]): void {
    const res = this.#res;
    if (this.version === "1.0" || res.headersSent || res.destroyed) return;
    if (status === 100) {
      if (this.#sent100) return;
      this.#sent100 = true;
      res.writeContinue();
    } else if (status === 102) {
      res.writeProcessing();
    } else if (status === 103) {
      const hints = toObject(raw, {});
      if (hints.link !== undefined) res.writeEarlyHints(hints as Record<string, string | string[]>);
    }
    // other 1xx codes have no node:http writer; they are informational only and dropped
  }

  head(status: number, reason: string, headers: string[], _bodyless: boolean, _wantTrailers: boolean): void {
    this.#res.writeHead(status, reason, headers);
  }

  write(chunk: Buffer): boolean { return this.#res.write(chunk); }
  onDrain(cb: () => void): void { this.#res.once("drain", cb); }

  end(trailers: readonly string[] | null): void {
    // node writes trailers only with chunked framing (no Content-Length), and ignores them otherwise
    if (trailers !== null && trailers.length > 0) this.#res.addTrailers(trailerPairs(trailers));
    this.#res.end();
  }

  abort(): void {
    this.#cut = true;
    this.#res.destroy();
  }

  kill(): void {
    this.#cut = true;
    const sock = this.#res.socket;
    if (sock !== null && !sock.destroyed) sock.resetAndDestroy();
    else this.#res.destroy();
  }

  closeAfter(): void { this.#res.shouldKeepAlive = false; }

  error(status: number, cause: HttpErrorCause, detail: string | null): void {
    const res = this.#res;
    if (this.headersSent()) { this.abort(); return; }
    if (res.destroyed) return;
    // an unread request body would be parsed as the next request: close instead (H26, F07)
    if (!this.#req.complete) res.shouldKeepAlive = false;
    const body = errorText(status, cause, detail);
    res.writeHead(status, errorHeaders(cause, body));
    res.end(body);
  }

  onClose(cb: () => void): void { this.#res.once("close", cb); }
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

  onClose(cb: () => void): void { this.#stream.once("close", cb); }
}
