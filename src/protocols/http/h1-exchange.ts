// h1-exchange: one request and its answer on an HTTP/1 client connection (h1-server.ts): the Downstream
// Forward writes the answer to, and the BodySource it reads the request body from. The answer's head is
// one string, held until the first body bytes (or the end) so both leave in one write; chunked framing
// when the upstream gave no length (HTTP/1.1), the close as the end for HTTP/1.0.
import type { BodySink, BodySource, ClientWatcher, Downstream } from "./downstream.ts";
import type { H1Conn, H1Head } from "./h1-server.ts";
import { lastWriteHeld, rawWrite } from "../../core/raw-write.ts";
import { verbatimAnswer, type FastHead } from "./response-head.ts";
import { errorHeaders, errorText, reasonPhrase, type HttpErrorCause } from "./responses.ts";
import { Buffer } from "node:buffer"; // the module binding: the global Buffer is a getter

/** A response body chunk up to this size is copied behind its head into one write (one syscall). */
const COALESCE_MAX = 2 * 1024;

// Whole answers (whole()) are built in one scratch buffer, written, and the buffer is used again for the
// next one when the kernel took all of it at once, as it does for a client that reads. A 16 KiB answer
// then costs no allocation: a buffer per answer left its native memory to wait for a garbage
// collection, 5-7 MiB of RSS under wrk -c256. When part of a write is left queued, libuv keeps the
// scratch (the next answer takes a new one) and that connection builds its answers in buffers of their
// own from then on, so a client that does not read can hold one scratch at most. (TLS connections
// always do: the TLS layer keeps what it is given until it has encrypted it.)
const SCRATCH_SIZE = 80 * 1024; // a read (64 KiB) plus the lines the proxy adds
let scratch: Buffer | null = null;

let dateSecond = -1;
let dateLine = "";
/** "date: <IMF-fixdate>\r\n", rebuilt at most once a second. */
function dateHeader(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) { dateSecond = s; dateLine = `date: ${new Date(now).toUTCString()}\r\n`; }
  return dateLine;
}

/** One request and its answer: the Downstream Forward writes to, and the BodySource it reads from. */
export class H1Exchange implements Downstream, BodySource {
  readonly version: string;
  readonly req: H1Head;
  readonly conn: H1Conn;
  keepAlive: boolean;
  requestDone = false;
  /** The answer is complete (end, error or a cut). */
  answeredAll = false;
  #trailers: readonly string[] | null = null;
  #hasBody: boolean;
  #headSent = false;
  #cut = false;
  #gone = false;
  #chunked = false;
  #noBody = false;
  #pendingHead: string | null = null;
  #sent100 = false;
  #probes = 0;
  #watcher: ClientWatcher | null = null;
  // request body
  #sink: BodySink | null = null;
  #paused = true;
  #buffered: Buffer[] | null = null;
  #ended = false;

  constructor(conn: H1Conn, head: H1Head) {
    this.conn = conn;
    this.req = head;
    this.version = head.minor === 0 ? "1.0" : "1.1";
    this.keepAlive = head.keepAlive && !conn.closing;
    this.#hasBody = declaresBody(head.rawHeaders);
  }

  // ---- BodySource

  start(sink: BodySink): void {
    this.#sink = sink;
    this.resume();
  }

  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
  }

  resume(): void {
    if (this.#sink === null) return;
    this.#paused = false;
    const b = this.#buffered;
    if (b !== null) {
      this.#buffered = null;
      for (let i = 0; i < b.length; i++) {
        if (this.#paused || this.#sink === null) { (this.#buffered ??= []).push(...b.slice(i)); return; }
        this.#sink.bodyData(b[i]);
      }
    }
    if (this.requestDone && !this.#ended && !this.#paused) this.#fireEnd();
    this.conn.bodyFlow();
  }

  trailers(): readonly string[] | null { return this.#trailers; }

  stop(): void {
    this.#sink = null;
    this.#buffered = null;
    this.#paused = true;
  }

  /** Bytes of the body are held back (the consumer paused or has not started): stop reading the socket. */
  holding(): boolean { return this.#buffered !== null; }

  pushBody(chunk: Buffer): void {
    if (!this.#paused && this.#sink !== null) { this.#sink.bodyData(chunk); return; }
    (this.#buffered ??= []).push(chunk);
    if (this.conn.active === this) this.conn.bodyFlow();
  }

  endBody(trailers: string[] | null): void {
    this.requestDone = true;
    if (trailers !== null) this.#trailers = trailers;
    if (!this.#paused && this.#sink !== null && this.#buffered === null) this.#fireEnd();
  }

  #fireEnd(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#sink?.bodyEnd();
  }

  // ---- Downstream

  headersSent(): boolean { return this.#headSent || this.#cut; }
  gone(): boolean { return this.answeredAll || this.#gone; }

  info(status: number, raw: readonly string[]): void {
    if (this.version === "1.0" || this.#headSent || this.#gone || this.answeredAll) return;
    let line: string;
    if (status === 100) {
      if (this.#sent100) return;
      this.#sent100 = true;
      line = "HTTP/1.1 100 Continue\r\n\r\n";
    } else if (status === 102) {
      line = "HTTP/1.1 102 Processing\r\n\r\n";
    } else if (status === 103) {
      let links = "";
      for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === "link") links += `link: ${raw[i + 1]}\r\n`;
      if (links === "") return;
      line = `HTTP/1.1 103 Early Hints\r\n${links}\r\n`;
    } else {
      return; // other 1xx codes are informational only: dropped
    }
    this.conn.socket.write(line, "latin1");
  }

  head(status: number, reason: string, headers: string[], bodyless: boolean, _wantTrailers: boolean): void {
    if (this.#headSent || this.#gone) return;
    let s = `HTTP/1.1 ${status} ${reason}\r\n`;
    let hasLength = false;
    let hasDate = false;
    for (let i = 0; i < headers.length; i += 2) {
      const n = headers[i];
      if (n.length === 14) { if (!hasLength && n.toLowerCase() === "content-length") hasLength = true; }
      else if (n.length === 4 && !hasDate && n.toLowerCase() === "date") hasDate = true;
      s += `${n}: ${headers[i + 1]}\r\n`;
    }
    if (!hasDate) s += dateHeader();
    this.#noBody = bodyless || status === 204 || status === 304 || status < 200;
    if (!this.#noBody && !hasLength) {
      if (this.version === "1.1") { this.#chunked = true; s += "transfer-encoding: chunked\r\n"; }
      else this.keepAlive = false; // HTTP/1.0 without a length: the close ends the body
    }
    this.#pendingHead = `${s}${this.#connectionLines()}\r\n`;
    this.#headSent = true;
  }

  /** The head's last lines: keep-alive, or close when the connection or the server is closing. */
  #connectionLines(): string {
    if (this.conn.closing || this.conn.server.draining) this.keepAlive = false;
    return this.keepAlive ? this.conn.server.keepAliveLines() : "connection: close\r\n";
  }

  whole(h: FastHead, d: Buffer, setCookie: string | null): void {
    if (this.#headSent || this.#gone) return;
    this.#headSent = true;
    // what head() adds behind the upstream's fields, in its order (a Content-Length is always there)
    let extra = setCookie === null ? "" : `set-cookie: ${setCookie}\r\n`;
    if (!h.hasDate) extra += dateHeader();
    const c = this.conn;
    const into = c.ownAnswerBuffers ? null : scratch ??= Buffer.allocUnsafeSlow(SCRATCH_SIZE);
    const out = verbatimAnswer(d, h, `${extra}${this.#connectionLines()}\r\n`, into);
    rawWrite(c.socket, out);
    if (into !== null && lastWriteHeld()) {
      if (out.buffer === into.buffer) scratch = null;
      c.ownAnswerBuffers = true;
    }
    this.#done();
  }

  write(chunk: Buffer): boolean {
    if (this.#noBody || this.#gone || this.answeredAll || chunk.length === 0) return true;
    const sock = this.conn.socket;
    const head = this.#pendingHead;
    if (this.#chunked) {
      const pre = `${head ?? ""}${chunk.length.toString(16)}\r\n`;
      this.#pendingHead = null;
      if (chunk.length <= COALESCE_MAX) return rawWrite(sock, frame(pre, chunk, "\r\n"));
      sock.cork();
      sock.write(pre, "latin1");
      sock.write(chunk);
      const ok = sock.write("\r\n", "latin1");
      sock.uncork();
      return ok;
    }
    if (head === null) return sock.write(chunk);
    this.#pendingHead = null;
    if (chunk.length <= COALESCE_MAX) return rawWrite(sock, frame(head, chunk, ""));
    sock.cork();
    sock.write(head, "latin1");
    const ok = sock.write(chunk);
    sock.uncork();
    return ok;
  }

  onDrain(cb: () => void): void { this.conn.socket.once("drain", cb); }

  end(trailers: readonly string[] | null): void {
    if (this.answeredAll || this.#gone) return;
    let tail = "";
    if (this.#chunked) {
      tail = "0\r\n";
      if (trailers !== null) for (let i = 0; i < trailers.length; i += 2) tail += `${trailers[i]}: ${trailers[i + 1]}\r\n`;
      tail += "\r\n";
    }
    const head = this.#pendingHead;
    this.#pendingHead = null;
    const out = head === null ? tail : head + tail;
    if (out !== "") rawWrite(this.conn.socket, out);
    this.#done();
  }

  abort(): void {
    this.#cut = true;
    this.#pendingHead = null;
    this.answeredAll = true;
    this.conn.socket.destroy();
  }

  kill(): void {
    this.#cut = true;
    this.answeredAll = true;
    const s = this.conn.socket;
    if (!s.destroyed) s.resetAndDestroy();
  }

  closeAfter(): void { this.keepAlive = false; }

  error(status: number, cause: HttpErrorCause, detail: string | null): void {
    if (this.headersSent()) { this.abort(); return; }
    if (this.#gone || this.answeredAll) return;
    // an unread request body would be parsed as the next request: close instead (H26, F07)
    if (!this.requestDone && this.#hasBody) this.keepAlive = false;
    const body = errorText(status, cause, detail);
    this.head(status, reasonPhrase(status), errorHeaders(cause, body), false, false);
    this.#pendingHead = `${this.#pendingHead ?? ""}${body}`;
    this.end(null);
  }

  onClose(w: ClientWatcher): void { this.#watcher = w; }

  #done(): void {
    this.answeredAll = true;
    this.conn.answered(this);
  }

  /** The client connection closed (before this answer was complete, or after). */
  lost(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.stop();
    if (this.answeredAll) return;
    const w = this.#watcher;
    this.#watcher = null;
    w?.clientClosed();
  }

  /** Parsed but never started (the connection closed first). */
  dropped(): void { this.#gone = true; }

  /**
   * The client sent FIN while this request is open. A half-close (shutdown(WR) after a full request) must
   * still get its response (hardening.md F09, HAProxy without abortonclose); a client that closed for
   * good must not pin upstream work until a timeout. TCP cannot tell them apart, so the proxy sends an
   * interim "102 Processing" (RFC 9110 §15.2: clients parse any 1xx), twice, 250 ms apart: a closed
   * peer answers the first with RST and the second write fails, which ends the exchange as a client
   * abort; a half-closed peer reads them and then the real answer.
   */
  clientFin(): void {
    if (this.version === "1.0") return;
    if (!this.#probe()) return;
    setTimeout(() => { this.#probe(); }, 250).unref();
  }

  #probe(): boolean {
    if (this.#headSent || this.#gone || this.answeredAll || this.#probes >= 2) return false;
    this.#probes++;
    this.conn.socket.write("HTTP/1.1 102 Processing\r\n\r\n", "latin1");
    return true;
  }
}


/** The request head announces a body (Transfer-Encoding, or a Content-Length other than 0). */
function declaresBody(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i];
    if (n.length === 17 && n.toLowerCase() === "transfer-encoding") return true;
    if (n.length === 14 && n.toLowerCase() === "content-length" && raw[i + 1].trim() !== "0") return true;
  }
  return false;
}

/** latin1 prefix + chunk + latin1 suffix in one buffer. */
function frame(pre: string, chunk: Buffer, post: string): Buffer {
  const b = Buffer.allocUnsafe(pre.length + chunk.length + post.length);
  b.write(pre, 0, "latin1");
  chunk.copy(b, pre.length);
  if (post.length > 0) b.write(post, pre.length + chunk.length, "latin1");
  return b;
}
