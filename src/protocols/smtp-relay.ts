// SMTP relay after the envelope reached a server: commands go through line by line and every
// server reply is passed back in order (RFC 2920 pipelining: one reply per command), the DATA
// section goes through DataFilter (only CRLF.CRLF ends it), and the proxy keeps the few things it
// must own: XCLIENT/XFORWARD from clients are refused (the proxy's address is trusted by the server),
// STARTTLS and BDAT are refused (not offered), the server's EHLO list loses what the proxy does not
// pass (STARTTLS, CHUNKING, XCLIENT, XFORWARD). When the server goes away before its last reply, the
// client gets `421 4.3.2` (never a 250 the server did not give), then the connection closes.
import type { Socket } from "node:net";
import { LineReader } from "./line-reader.ts";
import { DataFilter } from "./smtp-data.ts";

/** SMTP command line limit: RFC 5321's 512 plus the room its extensions add (RFC 1870/3461/6531), as 1000. */
export const SMTP_LINE_LIMIT = 1000;
/** Server reply lines. */
const SERVER_LINE_LIMIT = 4096;

const CRLF = Buffer.from("\r\n");
/** EHLO keywords the proxy does not pass to clients. */
const HIDDEN_EXTENSIONS = new Set(["STARTTLS", "CHUNKING", "XCLIENT", "XFORWARD", "BDAT"]);

/** Expected replies, in command order: a server reply, or a local one queued behind them. */
type Expect =
  | { readonly kind: "cmd" | "ehlo" | "data" | "eod" | "quit" }
  | { readonly kind: "local"; readonly text: string };

const E_CMD: Expect = { kind: "cmd" };
const E_EHLO: Expect = { kind: "ehlo" };
const E_DATA: Expect = { kind: "data" };
const E_EOD: Expect = { kind: "eod" };
const E_QUIT: Expect = { kind: "quit" };

export interface SmtpRelaySummary {
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** eof | idle | client-reset | upstream-reset | upstream-lost | forced */
  readonly end: string;
}

export class SmtpRelay {
  readonly #client: Socket;
  readonly #up: Socket;
  readonly #idleMs: number;
  readonly #hostname: string;
  readonly #done: (s: SmtpRelaySummary) => void;
  readonly #cin = new LineReader(SMTP_LINE_LIMIT);
  readonly #sin = new LineReader(SERVER_LINE_LIMIT);
  readonly #queue: Expect[] = [];
  readonly #filter = new DataFilter();
  #mode: "cmd" | "wait-data" | "data" = "cmd";
  /** Lines of a server EHLO reply held to drop hidden extensions. */
  #ehlo: Buffer[] | null = null;
  #quitDone = false;
  #last421 = false;
  #upWaitsDrain = false;
  #clientWaitsDrain = false;
  #clientEnded = false;
  #end: string | null = null;
  #closed = 0;
  #timer: NodeJS.Timeout | null = null;
  #bytesUp = 0;
  #bytesDown = 0;

  /**
   * Takes over both sockets (paused, without other data listeners). fromClient: client bytes read
   * but not yet handled (pipelined commands); fromServer: server bytes read past the last reply.
   */
  constructor(client: Socket, up: Socket, fromClient: Buffer, fromServer: Buffer, clientEnded: boolean, idleMs: number, hostname: string, done: (s: SmtpRelaySummary) => void) {
    this.#client = client;
    this.#up = up;
    this.#idleMs = idleMs;
    this.#hostname = hostname;
    this.#done = done;
    this.#clientEnded = clientEnded;
    client.on("data", this.#onClientData);
    client.on("end", this.#onClientEnd);
    client.on("error", this.#onClientError);
    client.on("close", this.#onClose);
    client.on("drain", this.#onClientDrain);
    up.on("data", this.#onServerData);
    up.on("end", this.#onServerEnd);
    up.on("error", this.#onServerError);
    up.on("close", this.#onClose);
    up.on("drain", this.#onUpDrain);
    if (idleMs > 0) this.#timer = setTimeout(this.#onIdle, idleMs);
    if (fromServer.length > 0) this.#onServerData(fromServer);
    if (fromClient.length > 0) this.#onClientData(fromClient);
    if (clientEnded) this.#onClientEnd();
    this.#flow();
    up.resume();
  }

  // --- client -> server ---

  readonly #onClientData = (chunk: Buffer): void => {
    this.#touch();
    if (this.#mode === "data") { this.#feedData(chunk); return; }
    this.#cin.push(chunk);
    this.#pumpClient();
  };

  #pumpClient(): void {
    while (this.#mode === "cmd" && this.#end === null) {
      const r = this.#cin.nextLine();
      if (r === null) break;
      if (r.kind === "too-long") { this.#local("500 5.5.2 Error: line too long\r\n"); continue; }
      const line = r.line;
      if (line.includes(0x0d) || line.includes(0x00)) { this.#local("500 5.5.2 Error: bad characters in command\r\n"); continue; }
      const text = line.toString("latin1");
      const sp = text.indexOf(" ");
      const verb = (sp < 0 ? text : text.slice(0, sp)).toUpperCase();
      switch (verb) {
        case "XCLIENT":
        case "XFORWARD":
        case "BDAT":
          this.#local("502 5.5.1 Error: command not implemented\r\n");
          continue;
        case "STARTTLS":
          this.#local("503 5.5.1 Error: STARTTLS is only possible before the first recipient\r\n");
          continue;
        default:
          break;
      }
      this.#toServer(Buffer.concat([line, CRLF]));
      if (verb === "DATA") {
        this.#queue.push(E_DATA);
        this.#mode = "wait-data";
        this.#flow();
        break;
      }
      this.#queue.push(verb === "QUIT" ? E_QUIT : verb === "EHLO" ? E_EHLO : E_CMD);
    }
    if (this.#clientEnded && this.#mode === "cmd") this.#endUp();
  }

  #feedData(chunk: Buffer): void {
    const r = this.#filter.feed(chunk);
    if (r.out.length > 0) this.#toServer(r.out.length === 1 ? r.out[0] : Buffer.concat(r.out));
    if (!r.done) return;
    this.#queue.push(E_EOD);
    this.#mode = "cmd";
    this.#flow();
    if (r.rest.length > 0) this.#cin.push(r.rest);
    this.#pumpClient();
  }

  #toServer(b: Buffer): void {
    if (this.#up.destroyed || this.#up.writableEnded) return;
    this.#bytesUp += b.length;
    if (!this.#up.write(b)) { this.#upWaitsDrain = true; this.#flow(); }
  }

  /** A reply of the proxy's own, in its place among the server's. */
  #local(text: string): void {
    if (this.#queue.length === 0) this.#toClient(Buffer.from(text, "latin1"));
    else this.#queue.push({ kind: "local", text });
  }

  readonly #onClientEnd = (): void => {
    this.#clientEnded = true;
    if (this.#mode === "cmd") this.#pumpClient();
    else if (this.#mode === "data") this.#endUp();   // FIN inside DATA: the server drops the partial message
  };

  #endUp(): void {
    if (!this.#up.destroyed && !this.#up.writableEnded) this.#up.end();
  }

  readonly #onClientError = (): void => {
    this.#end ??= "client-reset";
    this.#up.destroy();
  };

  // --- server -> client ---

  readonly #onServerData = (chunk: Buffer): void => {
    this.#touch();
    this.#sin.push(chunk);
    for (let r = this.#sin.nextLine(); r !== null; r = this.#sin.nextLine()) {
      if (r.kind === "too-long") { this.#lost("upstream-reset"); return; }
      this.#serverLine(r.line);
    }
  };

  #serverLine(line: Buffer): void {
    const final = line.length < 4 || line[3] !== 0x2d;
    const head = this.#queue[0];
    if (head !== undefined && head.kind === "ehlo") {
      (this.#ehlo ??= []).push(line);
      if (!final) return;
      this.#sendEhlo(this.#ehlo);
      this.#ehlo = null;
    } else {
      this.#toClient(Buffer.concat([line, CRLF]));
      if (!final) return;
    }
    const code = line.length >= 3 ? Number(line.toString("latin1", 0, 3)) : 0;
    if (code === 421) this.#last421 = true;
    const e = this.#queue.shift();
    if (e !== undefined) {
      if (e.kind === "data") {
        this.#mode = code === 354 ? "data" : "cmd";
        if (code === 354) this.#filter.reset();
        this.#flow();
        if (this.#mode === "data") {
          const held = this.#cin.take();
          if (held.length > 0) this.#feedData(held);
          if (this.#clientEnded && this.#mode === "data") this.#endUp();
        } else {
          this.#pumpClient();
        }
      } else if (e.kind === "quit" && code === 221) {
        this.#quitDone = true;
      }
    }
    while (this.#queue.length > 0 && this.#queue[0].kind === "local") {
      const l = this.#queue.shift() as { readonly kind: "local"; readonly text: string };
      this.#toClient(Buffer.from(l.text, "latin1"));
    }
  }

  /** Relays an EHLO reply without the extensions the proxy does not pass. */
  #sendEhlo(lines: Buffer[]): void {
    const code = lines[lines.length - 1].toString("latin1", 0, 3);
    const keep: string[] = [];
    for (let i = 0; i < lines.length; i++) {
      const text = lines[i].toString("latin1", 4);
      const word = text.split(" ")[0].toUpperCase();
      if (i > 0 && code === "250" && HIDDEN_EXTENSIONS.has(word)) continue;
      keep.push(text);
    }
    let out = "";
    for (let i = 0; i < keep.length; i++) out += `${code}${i === keep.length - 1 ? " " : "-"}${keep[i]}\r\n`;
    this.#toClient(Buffer.from(out, "latin1"));
  }

  #toClient(b: Buffer): void {
    if (this.#client.destroyed || this.#client.writableEnded) return;
    this.#bytesDown += b.length;
    if (!this.#client.write(b)) { this.#clientWaitsDrain = true; this.#flow(); }
  }

  readonly #onServerEnd = (): void => {
    this.#lost(null);
  };

  readonly #onServerError = (): void => {
    this.#lost("upstream-reset");
  };

  /** The server is gone: unless it said goodbye, the client hears 421 (a temporary failure), then FIN. */
  #lost(why: string | null): void {
    if (this.#end === null) {
      this.#end = this.#quitDone || this.#last421 ? "eof" : why ?? "upstream-lost";
      if (!this.#quitDone && !this.#last421) {
        this.#toClient(Buffer.from(`421 4.3.2 ${this.#hostname} Error: connection to the mail server lost, try again later\r\n`, "latin1"));
      }
    }
    if (why !== null) this.#up.destroy();
    else this.#endUp();
    this.#closeClient();
  }

  // --- flow control, timers, end ---

  /** Client reads pause while the server needs draining or a DATA reply is awaited; server reads while the client needs draining. */
  #flow(): void {
    if (this.#upWaitsDrain || this.#mode === "wait-data") this.#client.pause();
    else this.#client.resume();
    if (this.#clientWaitsDrain) this.#up.pause();
    else this.#up.resume();
  }

  readonly #onUpDrain = (): void => { this.#upWaitsDrain = false; this.#flow(); };
  readonly #onClientDrain = (): void => { this.#clientWaitsDrain = false; this.#flow(); };

  #touch(): void {
    if (this.#timer !== null) this.#timer.refresh();
  }

  readonly #onIdle = (): void => {
    this.#timer = null;
    this.#end ??= "idle";
    if (this.#mode === "cmd" && this.#queue.length === 0) {
      this.#toClient(Buffer.from(`421 4.4.2 ${this.#hostname} Error: timeout exceeded\r\n`, "latin1"));
    }
    this.#closeClient();
    this.#up.destroy();
  };

  readonly #onClose = (): void => {
    if (this.#client.destroyed && !this.#up.destroyed) {
      // the client is gone: nobody is left to read the server
      this.#end ??= this.#clientEnded ? "eof" : "client-reset";
      this.#up.destroy();
    }
    if (++this.#closed < 2) return;
    if (this.#timer !== null) { clearTimeout(this.#timer); this.#timer = null; }
    this.#done({ bytesUp: this.#bytesUp, bytesDown: this.#bytesDown, end: this.#end ?? "eof" });
  };

  /** FIN to the client; destroyed if it does not close within 2 s. */
  #closeClient(): void {
    const c = this.#client;
    if (c.destroyed) return;
    if (!c.writableEnded) c.end();
    c.setTimeout(2000, () => c.destroy());
  }

  /** Deadline: a 421 when no reply is pending and no DATA is flowing, then close both sides. */
  forceClose(): void {
    this.#end ??= "forced";
    if (this.#mode === "cmd" && this.#queue.length === 0) {
      this.#toClient(Buffer.from(`421 4.3.2 ${this.#hostname} Service shutting down, try again later\r\n`, "latin1"));
      this.#client.end();
    }
    this.#client.destroy();
    this.#up.destroy();
  }
}
