// MySQL/MariaDB wire facts the mysql listener needs (protocols.md 4.2; MySQL "Client/Server Protocol"
// and MariaDB "Clients & Connectors / Client/Server Protocol" pages): packet framing, ERR packets, and a
// header-level tracker that tells whether a relayed session sits between two commands, so a forced
// close can send the client an ERR packet instead of cutting the socket.
//
// The tracker never buffers payloads: it reads each packet's 4-byte header and keeps at most a few
// dozen leading payload bytes. When it meets anything it does not fully understand (TLS, compression,
// pre-4.1 clients, replication or cursor commands, an unexpected packet) it goes blind for the rest of
// the session, and a blind session is never called idle: the safe answer is then to cut.

/** Largest payload of one physical packet; a packet of exactly this size is continued by the next. */
export const MAX_PAYLOAD = 0xffffff;

// Capability flags (low 32 bits).
export const CLIENT_MYSQL = 0x1;             // MySQL servers set it; MariaDB clears it and sends extended caps
export const CLIENT_COMPRESS = 0x20;
export const CLIENT_PROTOCOL_41 = 0x200;
export const CLIENT_SSL = 0x800;
export const CLIENT_DEPRECATE_EOF = 0x01000000;
/** MariaDB extended capability (bits 32..63, sent in the reserved bytes): result metadata may be skipped. */
export const MARIADB_CLIENT_CACHE_METADATA = 0x10;

// Server status flags.
export const SERVER_MORE_RESULTS_EXISTS = 0x0008;
export const SERVER_STATUS_CURSOR_EXISTS = 0x0040;

// Error codes a proxy may send (server range, protocols.md 4.2).
export const ER_CON_COUNT_ERROR = 1040;   // "Too many connections", SQLSTATE 08004
export const ER_SERVER_SHUTDOWN = 1053;   // "Server shutdown in progress", SQLSTATE 08S01

/**
 * An ERR packet: header (length, seq), 0xFF, error code (LE16), then "#" + 5-char SQLSTATE when
 * sqlState is not null (only once CLIENT_PROTOCOL_41 was negotiated; never in place of the greeting),
 * then the message to the end of the packet. Messages are cut to fit one packet.
 */
export function errPacket(seq: number, code: number, message: string, sqlState: string | null): Buffer {
  const msg = Buffer.from(message, "utf8");
  const state = sqlState === null ? 0 : 6;
  const len = Math.min(3 + state + msg.length, MAX_PAYLOAD - 1);
  const b = Buffer.alloc(4 + len);
  b.writeUIntLE(len, 0, 3);
  b[3] = seq & 0xff;
  b[4] = 0xff;
  b.writeUInt16LE(code, 5);
  if (sqlState !== null) {
    b[7] = 0x23; // '#'
    b.write(sqlState.padEnd(5, "0").slice(0, 5), 8, "latin1");
  }
  msg.copy(b, 7 + state, 0, len - 3 - state);
  return b;
}

/** COM_QUIT (seq 0, 0x01): tells a server the client leaves on purpose, so it logs no aborted connection. */
export const COM_QUIT_PACKET: Buffer = Buffer.from([1, 0, 0, 0, 0x01]);

/** The first packet of a stream when it is complete: its payload's first byte and total bytes used; else null. */
export function firstPacket(b: Buffer): { readonly marker: number; readonly size: number } | null {
  if (b.length < 4) return null;
  const len = b.readUIntLE(0, 3);
  if (b.length < 4 + len) return null;
  return { marker: len > 0 ? b[4] : -1, size: 4 + len };
}

/**
 * Called with each complete logical packet: sequence id (of its first part), total payload length,
 * and its leading payload bytes as b[off .. off+avail) (avail = min(length, prefixCap)). The bytes are
 * valid only during the call.
 */
export type PacketSink = (seq: number, length: number, b: Buffer, off: number, avail: number) => void;

/**
 * Streaming framer: follows packet boundaries across chunks and joins split packets (0xFFFFFF parts)
 * into one logical packet. A packet wholly inside one chunk is reported from the chunk itself (no
 * copy, no allocation); one that spans chunks has its first `prefixCap` bytes copied. O(1) memory.
 */
export class PacketFramer {
  /** Leading payload bytes reported per packet (raise it while a greeting is expected); at most 256. */
  prefixCap: number;
  readonly #sink: PacketSink;
  readonly #head = Buffer.alloc(4);
  readonly #prefix = Buffer.alloc(256);
  #headFill = 0;        // header bytes collected, 0..4; 4 = inside a payload
  #left = 0;            // payload bytes left in the current part
  #partLen = 0;
  #continued = false;   // the previous part was MAX_PAYLOAD long: this part belongs to the same packet
  #seq = 0;
  #total = 0;
  #prefixLen = 0;

  constructor(sink: PacketSink, prefixCap = 32) {
    this.#sink = sink;
    this.prefixCap = Math.min(prefixCap, 256);
  }

  /** True while a packet has started but not ended (header, payload or a continuation part pending). */
  get midPacket(): boolean {
    return this.#headFill > 0 || this.#continued;
  }

  feed(b: Buffer): void {
    let i = 0;
    const n = b.length;
    while (i < n) {
      if (this.#headFill === 0 && !this.#continued && n - i >= 4) {
        // fast path: a whole header here, and maybe the whole packet
        const len = b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
        const start = i + 4;
        if (len < MAX_PAYLOAD && len <= n - start) {
          i = start + len;
          this.#sink(b[start - 1], len, b, start, len < this.prefixCap ? len : this.prefixCap);
          continue;
        }
        this.#head[3] = b[start - 1];
        this.#startPart(len);
        i = start;
        continue;
      }
      if (this.#headFill < 4) {
        while (this.#headFill < 4 && i < n) this.#head[this.#headFill++] = b[i++];
        if (this.#headFill < 4) return;
        this.#startPart(this.#head[0] | (this.#head[1] << 8) | (this.#head[2] << 16));
        continue;
      }
      const take = Math.min(this.#left, n - i);
      const room = this.prefixCap - this.#prefixLen;
      if (room > 0) {
        const c = Math.min(room, take);
        b.copy(this.#prefix, this.#prefixLen, i, i + c);
        this.#prefixLen += c;
      }
      i += take;
      this.#left -= take;
      if (this.#left === 0) this.#partDone();
    }
  }

  /** A part header was read (its sequence id in #head[3]): enter its payload. */
  #startPart(len: number): void {
    this.#headFill = 4;
    this.#partLen = len;
    if (!this.#continued) {
      this.#seq = this.#head[3];
      this.#total = 0;
      this.#prefixLen = 0;
    }
    this.#total += len;
    this.#left = len;
    if (len === 0) this.#partDone();
  }

  #partDone(): void {
    this.#headFill = 0;
    if (this.#partLen === MAX_PAYLOAD) { this.#continued = true; return; }
    this.#continued = false;
    this.#sink(this.#seq, this.#total, this.#prefix, 0, this.#prefixLen);
  }
}

/** Where a session stands, as far as the tracker can tell. */
type Stage = "greeting" | "login" | "ready" | "closing";

/** Sub-states of the response to the command at the head of the queue. */
type Resp =
  | "start"        // nothing of this response seen yet (or the next result of a multi-result)
  | "columns"      // column definitions left: #count
  | "columnsEof"   // the EOF after the column definitions
  | "rows"         // rows until EOF / OK terminator
  | "paramDefs" | "paramEof" | "prepCols" | "prepColsEof" // COM_STMT_PREPARE
  | "auth";        // COM_CHANGE_USER: until OK or ERR

// Command bytes.
const COM_QUIT = 0x01;
const COM_FIELD_LIST = 0x04;
const COM_PROCESS_INFO = 0x0a;
const COM_QUERY = 0x03;
const COM_CHANGE_USER = 0x11;
const COM_STMT_PREPARE = 0x16;
const COM_STMT_EXECUTE = 0x17;
const COM_STMT_SEND_LONG_DATA = 0x18;
const COM_STMT_CLOSE = 0x19;
const COM_STMT_FETCH = 0x1c;
const COM_STMT_BULK_EXECUTE = 0xfa;
/** Commands answered by exactly one packet (OK, ERR, EOF or a text line). */
const SINGLE_REPLY = new Set([
  0x00 /* SLEEP */, 0x02 /* INIT_DB */, 0x05 /* CREATE_DB */, 0x06 /* DROP_DB */, 0x07 /* REFRESH */,
  0x08 /* SHUTDOWN */, 0x09 /* STATISTICS */, 0x0c /* PROCESS_KILL */, 0x0d /* DEBUG */, 0x0e /* PING */,
  0x1a /* STMT_RESET */, 0x1b /* SET_OPTION */, 0x1f /* RESET_CONNECTION */,
]);

/**
 * Follows one relayed session from the packet headers of both directions (feedServer/feedClient get
 * every relayed chunk, in order). `idle` is true only when the last command's response is complete,
 * no command is pending, neither side is inside a packet, and nothing unknown happened before.
 */
export class SessionTracker {
  /** Why the tracker stopped understanding the session; null while it follows it. */
  blind: string | null = null;
  #stage: Stage = "greeting";
  #serverCaps = 0;
  #serverExt = 0;
  #clientCaps = 0;
  #clientExt = 0;
  #clientPackets = 0;
  /** Commands sent and not fully answered, oldest first. */
  readonly #pending: number[] = [];
  #resp: Resp = "start";
  #count = 0;
  #after = 0; // COM_STMT_PREPARE: column count to expect after the parameters
  readonly #server: PacketFramer;
  readonly #client: PacketFramer;

  constructor() {
    this.#server = new PacketFramer(this.#onServer.bind(this), 160);
    this.#client = new PacketFramer(this.#onClient.bind(this), 40);
  }

  feedServer(b: Buffer): void { if (this.blind === null) this.#server.feed(b); }
  feedClient(b: Buffer): void { if (this.blind === null) this.#client.feed(b); }

  get idle(): boolean {
    return this.blind === null && this.#stage === "ready" && this.#pending.length === 0 &&
      !this.#server.midPacket && !this.#client.midPacket;
  }

  /** True once the client and the server agreed on CLIENT_PROTOCOL_41 (ERR packets then carry a SQLSTATE). */
  get protocol41(): boolean {
    return (this.#clientCaps & this.#serverCaps & CLIENT_PROTOCOL_41) !== 0;
  }

  get #deprecateEof(): boolean {
    return (this.#clientCaps & this.#serverCaps & CLIENT_DEPRECATE_EOF) !== 0;
  }

  #lose(why: string): void { this.blind ??= why; }

  #onServer(_seq: number, len: number, b: Buffer, o: number, n: number): void {
    if (this.blind !== null) return;
    const m = n > 0 ? b[o] : -1;
    switch (this.#stage) {
      case "greeting": this.#greeting(b.subarray(o, o + n)); return;
      case "login":
        if (m === 0x00) {
          if ((this.#clientCaps & this.#serverCaps & CLIENT_COMPRESS) !== 0) this.#lose("compression");
          this.#stage = "ready";
          this.#server.prefixCap = 32;
        } else if (m === 0xff) {
          this.#stage = "closing";
        } // else: auth switch (0xFE) or more data (0x01): the exchange goes on
        return;
      case "ready":
        if (this.#pending.length === 0) {
          if (m === 0xff) this.#stage = "closing"; // the server says goodbye (e.g. idle timeout) and closes
          else this.#lose("unsolicited server packet");
          return;
        }
        this.#response(this.#pending[0], len, m, b, o, n);
        return;
      case "closing": return;
    }
  }

  #greeting(p: Buffer): void {
    if (p[0] === 0xff) { this.#stage = "closing"; return; }
    if (p[0] !== 10) { this.#lose("greeting is not protocol 10"); return; }
    const nul = p.indexOf(0, 1);
    // version NUL, connection id (4), scramble part 1 (8), filler (1), caps low (2), charset (1),
    // status (2), caps high (2), auth data length (1), reserved (6), MariaDB extended caps (4)
    if (nul < 0 || nul + 21 > p.length) { this.#lose("greeting too long to read"); return; }
    const o = nul + 14; // caps low
    this.#serverCaps = (p.readUInt16LE(o) | (p.readUInt16LE(o + 5) << 16)) >>> 0;
    if ((this.#serverCaps & CLIENT_MYSQL) === 0 && o + 18 <= p.length) this.#serverExt = p.readUInt32LE(o + 14);
    this.#stage = "login";
  }

  #onClient(seq: number, len: number, b: Buffer, o: number, n: number): void {
    if (this.blind !== null) return;
    switch (this.#stage) {
      case "greeting": this.#lose("client spoke first"); return;
      case "login":
        if (this.#clientPackets++ > 0) return; // auth continuation
        if (n < 4) { this.#lose("short handshake response"); return; }
        this.#clientCaps = b.readUInt32LE(o);
        if ((this.#clientCaps & CLIENT_PROTOCOL_41) === 0) { this.#lose("pre-4.1 client"); return; }
        if ((this.#clientCaps & CLIENT_SSL) !== 0) { this.#lose("tls"); return; } // SSLRequest: TLS follows
        if ((this.#clientCaps & CLIENT_MYSQL) === 0 && n >= 32) this.#clientExt = b.readUInt32LE(o + 28);
        return;
      case "ready": {
        if (seq !== 0) return; // data inside a command (LOCAL INFILE, auth continuation)
        const cmd = n > 0 ? b[o] : -1;
        if (cmd === COM_QUIT) { this.#stage = "closing"; return; }
        if (cmd === COM_STMT_CLOSE || cmd === COM_STMT_SEND_LONG_DATA) return; // no reply
        if (cmd === COM_STMT_EXECUTE && (n < 6 || (b[o + 5] & 0x0f) !== 0)) { this.#lose("cursor"); return; }
        if (!SINGLE_REPLY.has(cmd) && cmd !== COM_QUERY && cmd !== COM_STMT_EXECUTE && cmd !== COM_STMT_BULK_EXECUTE &&
          cmd !== COM_PROCESS_INFO && cmd !== COM_STMT_PREPARE && cmd !== COM_FIELD_LIST && cmd !== COM_STMT_FETCH &&
          cmd !== COM_CHANGE_USER) {
          this.#lose(`command 0x${cmd.toString(16)}`);
          return;
        }
        this.#pending.push(cmd);
        return;
      }
      case "closing": return;
    }
  }

  /** One server packet of the response to `cmd` (m: its first byte; b[o .. o+n): its leading bytes). */
  #response(cmd: number, len: number, m: number, b: Buffer, o: number, n: number): void {
    if (m === 0xff && n >= 3 && b[o + 1] === 0xff && b[o + 2] === 0xff) return; // MariaDB progress report
    if (this.#resp === "start") {
      if (SINGLE_REPLY.has(cmd)) { this.#done(); return; }
      if (cmd === COM_CHANGE_USER) { this.#resp = "auth"; }
      else if (cmd === COM_FIELD_LIST || cmd === COM_STMT_FETCH) { this.#resp = "rows"; }
      else if (cmd === COM_STMT_PREPARE) { this.#prepared(m, b.subarray(o, o + n)); return; }
      else { this.#resultStart(cmd, m, b.subarray(o, o + n)); return; }
    }
    switch (this.#resp) {
      case "auth":
        if (m === 0x00 || m === 0xff) this.#done();
        return;
      case "columns":
        if (m === 0xff) { this.#done(); return; }
        if (--this.#count === 0) this.#resp = this.#deprecateEof ? "rows" : "columnsEof";
        return;
      case "columnsEof":
        if (m === 0xff) { this.#done(); return; }
        if (m !== 0xfe || len >= 9) { this.#lose("no EOF after columns"); return; }
        if (n < 5) { this.#lose("short EOF"); return; }
        if ((b.readUInt16LE(o + 3) & SERVER_STATUS_CURSOR_EXISTS) !== 0) { this.#done(); return; }
        this.#resp = "rows";
        return;
      case "rows":
        if (m === 0xff) { this.#done(); return; } // an error ends the whole response
        if (m === 0xfe && (this.#deprecateEof ? len < MAX_PAYLOAD : len < 9)) {
          const p = b.subarray(o, o + n);
          this.#endOfResult(this.#deprecateEof ? okStatus(p) : eofStatus(p));
        }
        return;
      case "paramDefs":
        if (--this.#count === 0) {
          if (!this.#deprecateEof) { this.#resp = "paramEof"; return; }
          this.#prepColumns();
        }
        return;
      case "paramEof": this.#prepColumns(); return;
      case "prepCols":
        if (--this.#count === 0) {
          if (this.#deprecateEof) this.#done(); else this.#resp = "prepColsEof";
        }
        return;
      case "prepColsEof": this.#done(); return;
    }
  }

  /** The first packet of a result (COM_QUERY and friends, each result of a multi-result, after LOCAL INFILE). */
  #resultStart(cmd: number, m: number, p: Buffer): void {
    if (m === 0x00) { this.#endOfResult(okStatus(p)); return; }
    if (m === 0xff) { this.#done(); return; }
    if (m === 0xfb) return; // LOCAL INFILE request: the client sends the file, then the server answers OK/ERR
    if (m === 0xfe) { this.#lose("0xFE opens a result"); return; }
    const n = lenenc(p, 0);
    if (n === null || n.value === 0) { this.#lose("bad column count"); return; }
    if (cmd === COM_STMT_EXECUTE && (this.#clientExt & this.#serverExt & MARIADB_CLIENT_CACHE_METADATA) !== 0) {
      if (p.length <= n.size) { this.#lose("short column count"); return; }
      if (p[n.size] === 0) { this.#lose("metadata skipped"); return; }
    }
    this.#resp = "columns";
    this.#count = n.value;
  }

  #prepared(m: number, p: Buffer): void {
    if (m === 0xff) { this.#done(); return; }
    if (m !== 0x00 || p.length < 9) { this.#lose("bad prepare reply"); return; }
    const cols = p.readUInt16LE(5);
    const params = p.readUInt16LE(7);
    this.#after = cols;
    if (params > 0) { this.#resp = "paramDefs"; this.#count = params; return; }
    this.#prepColumns();
  }

  #prepColumns(): void {
    if (this.#after === 0) { this.#done(); return; }
    this.#resp = "prepCols";
    this.#count = this.#after;
  }

  #endOfResult(status: number): void {
    if (status < 0) { this.#lose("short OK/EOF"); return; }
    if ((status & SERVER_MORE_RESULTS_EXISTS) !== 0) { this.#resp = "start"; return; }
    this.#done();
  }

  #done(): void {
    this.#pending.shift();
    this.#resp = "start";
  }
}

/** Length-encoded integer at offset o: value and bytes used; null when the prefix is too short or 0xFF. */
export function lenenc(p: Buffer, o: number): { readonly value: number; readonly size: number } | null {
  if (o >= p.length) return null;
  const b = p[o];
  if (b < 0xfb) return { value: b, size: 1 };
  const size = b === 0xfc ? 3 : b === 0xfd ? 4 : b === 0xfe ? 9 : 0;
  if (size === 0 || o + size > p.length) return null;
  const value = size === 9 ? Number(p.readBigUInt64LE(o + 1)) : p.readUIntLE(o + 1, size - 1);
  return { value, size };
}

/** Status flags of an OK packet (header, affected rows, last insert id, status); -1 when cut short. */
export function okStatus(p: Buffer): number {
  const a = lenenc(p, 1);
  if (a === null) return -1;
  const b = lenenc(p, 1 + a.size);
  if (b === null) return -1;
  const o = 1 + a.size + b.size;
  return o + 2 <= p.length ? p.readUInt16LE(o) : -1;
}

/** Status flags of an EOF packet (0xFE, warnings, status); -1 when cut short. */
export function eofStatus(p: Buffer): number {
  return p.length >= 5 ? p.readUInt16LE(3) : -1;
}
