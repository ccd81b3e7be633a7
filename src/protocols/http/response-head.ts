// A fast path for the common upstream response head (issue 11: llhttp's response parse and its three
// C++-to-JS callbacks were the largest single cost of a proxied request after the syscalls). It takes
// only a narrow, plainly valid subset and says "not mine" (null) for everything else, which then goes
// to llhttp exactly as before (h1-client.ts). The subset, all of it inside one read:
//   "HTTP/1.1 " 3 digits (200-599, not 204 or 304) " " reason CRLF
//   ( token ":" OWS value CRLF )*  CRLF       value: visible ASCII and inner SP/HTAB, not empty,
//                                             no trailing whitespace; at most MAX_FAST_HEAD bytes
//   exactly one Content-Length of 1-15 digits; no Transfer-Encoding and no Proxy-Connection;
//   Connection absent, "close" or "keep-alive" (any case).
// Inside that subset llhttp (strict) accepts the head and reports the same status, reason, fields, body
// length and keep-alive; test/unit/protocols/response-head.test.ts checks both parsers against each other.
// Anything else (1xx, 101, 204/304, chunked, a close-delimited body, obs-fold, a bare LF or CR, control
// or non-ASCII bytes, a head split across reads, HTTP/1.0) is llhttp's to accept or refuse.
// A head whose kept lines already read as the proxy writes them ("name: value", a canonical
// Content-Length) is `verbatim`: a whole answer in one read then goes to an HTTP/1 client as the
// upstream's own bytes less its hop-by-hop lines (verbatimAnswer), byte for byte what the general path
// (headers.ts clientResponseHeaders, h1-exchange.ts head()) writes; the same test holds the two to that.

import { Buffer } from "node:buffer"; // the module binding: the global Buffer is a getter

/** Longer heads (or heads not complete in the read) go to llhttp. */
export const MAX_FAST_HEAD = 8 * 1024;

/**
 * A head in the subset, as offsets into the bytes it was read from (no strings: the common answer goes
 * to the client as those bytes, verbatimAnswer). The bytes are a read buffer that the next read
 * overwrites: whatever needs the head later takes it out now (fastHeadFields, fastHeadReason).
 */
export interface FastHead {
  readonly status: number;
  readonly contentLength: number;
  readonly keepAlive: boolean;
  /** Offset of the first body byte. */
  readonly bodyStart: number;
  /** Offset of the CR that ends the status line. */
  readonly lineEnd: number;
  /** A Date field is there. */
  readonly hasDate: boolean;
  /** The head can reach an HTTP/1 client as its own bytes less the `drop` lines: every field line reads
   *  "name: value" (one space) and Content-Length is canonical, which is what the proxy would write. */
  readonly verbatim: boolean;
  /** [start, end) of each hop-by-hop field line (CRLF included) the proxy drops, in order. */
  readonly drop: number[];
}

// RFC 9110 §5.6.2 tchar
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) { TCHAR[c] = 1; TCHAR[c + 32] = 1; }
// what a reason phrase or a field value may hold here: visible ASCII, SP and HTAB
const TEXT = new Uint8Array(256);
for (let c = 32; c <= 126; c++) TEXT[c] = 1;
TEXT[9] = 1;

/** Buffer's own latin1 codec (what toString / write with "latin1" end in), without the argument checks. */
interface Latin1 { latin1Slice(start: number, end: number): string; latin1Write(s: string, offset: number): number }

/** d[from, to) equals `lower` (a-z and "-") ignoring ASCII case. */
function named(d: Buffer, from: number, to: number, lower: string): boolean {
  if (to - from !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if ((d[from + i] | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** The head at the start of d when it is in the subset above; null: llhttp's to parse. */
export function parseFastHead(d: Buffer): FastHead | null {
  const len = d.length;
  if (len < 19 || d[0] !== 72 || d[1] !== 84 || d[2] !== 84 || d[3] !== 80 || d[4] !== 47 || d[5] !== 49 || d[6] !== 46 || d[7] !== 49 || d[8] !== 32) return null; // "HTTP/1.1 "
  // one pass over the head; every scan stops at the first byte outside its class or at `end`
  const end = len < MAX_FAST_HEAD ? len : MAX_FAST_HEAD;
  const d0 = d[9] - 48;
  const d1 = d[10] - 48;
  const d2 = d[11] - 48;
  if (d0 < 2 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9 || d[12] !== 32) return null;
  const status = d0 * 100 + d1 * 10 + d2;
  if (status === 204 || status === 304) return null;
  let e = 13;
  while (e < end && TEXT[d[e]] === 1) e++;
  if (e + 1 >= end || d[e] !== 13 || d[e + 1] !== 10) return null;
  const lineEnd = e;
  let cl = -1;
  let keepAlive = true;
  let hasDate = false;
  let verbatim = true;
  const drop: number[] = [];
  let p = e + 2;
  for (;;) {
    if (p >= end) return null;
    if (d[p] === 13) break; // the empty line (checked below)
    const lineStart = p;
    let i = p;
    while (i < end && TCHAR[d[i]] === 1) i++;
    if (i === p || i >= end || d[i] !== 58) return null; // empty name, or a byte that is neither tchar nor ":"
    let v = i + 1;
    while (v < end && (d[v] === 32 || d[v] === 9)) v++;
    e = v;
    while (e < end && TEXT[d[e]] === 1) e++;
    if (e + 1 >= end || d[e] !== 13 || d[e + 1] !== 10 || e === v) return null; // a bare CR or LF, a control byte, or an empty value
    const last = d[e - 1];
    if (last === 32 || last === 9) return null;
    // hop-by-hop: the names headers.ts (kindOf) drops from a response; Proxy-Connection and
    // Transfer-Encoding never reach here
    let hop = false;
    switch (i - p) {
      case 2: hop = named(d, p, i, "te"); break;
      case 4: if (named(d, p, i, "date")) hasDate = true; break;
      case 7: hop = named(d, p, i, "upgrade") || named(d, p, i, "trailer"); break;
      case 10:
        if (named(d, p, i, "connection")) {
          if (named(d, v, e, "close")) keepAlive = false;
          else if (!named(d, v, e, "keep-alive")) return null;
          hop = true;
        } else {
          hop = named(d, p, i, "keep-alive");
        }
        break;
      case 14:
        if (named(d, p, i, "content-length")) {
          if (cl >= 0 || e - v > 15) return null;
          let n = 0;
          for (let k = v; k < e; k++) {
            const x = d[k] - 48;
            if (x < 0 || x > 9) return null;
            n = n * 10 + x;
          }
          cl = n;
          if (d[v] === 48 && e - v > 1) verbatim = false; // leading zeros: the proxy writes it canonical
        } else {
          hop = named(d, p, i, "http2-settings");
        }
        break;
      case 16: if (named(d, p, i, "proxy-connection")) return null; break;
      case 17: if (named(d, p, i, "transfer-encoding")) return null; break;
      default: break;
    }
    if (hop) drop.push(lineStart, e + 2);
    else if (v !== i + 2 || d[i + 1] !== 32) verbatim = false; // the proxy writes a kept line as "name: value"
    p = e + 2;
  }
  if (p + 1 >= end || d[p + 1] !== 10 || cl < 0) return null;
  return { status, contentLength: cl, keepAlive, bodyStart: p + 2, lineEnd, hasDate, verbatim, drop };
}

/** The reason phrase of a head parseFastHead took (from the same bytes). */
export function fastHeadReason(d: Buffer, h: FastHead): string {
  return (d as unknown as Latin1).latin1Slice(13, h.lineEnd);
}

/** The fields of a head parseFastHead took (from the same bytes), flat [name, value, ...] as sent. */
export function fastHeadFields(d: Buffer, h: FastHead): string[] {
  const s = (d as unknown as Latin1).latin1Slice(h.lineEnd + 2, h.bodyStart - 2);
  const out: string[] = [];
  // the head was checked: every line is name ":" OWS value CRLF, the value without trailing whitespace
  let p = 0;
  while (p < s.length) {
    const colon = s.indexOf(":", p);
    const eol = s.indexOf("\r\n", colon);
    let v = colon + 1;
    while (s.charCodeAt(v) === 32 || s.charCodeAt(v) === 9) v++;
    out.push(s.slice(p, colon), s.slice(v, eol));
    p = eol + 2;
  }
  return out;
}

/**
 * The answer an HTTP/1 client gets for a whole response in d whose head is `verbatim`: the upstream's
 * status line and field lines less the dropped ones, then `extra` (the lines the proxy adds and the
 * empty line), then the body, in one buffer. Byte for byte what the general path writes for it.
 * Written at the start of `into` when it is long enough (a view of it is returned), else into a new buffer.
 */
export function verbatimAnswer(d: Buffer, h: FastHead, extra: string, into: Buffer | null = null): Buffer {
  const headEnd = h.bodyStart - 2; // the empty line is the proxy's, in extra
  const drop = h.drop;
  let keep = headEnd;
  for (let i = 0; i < drop.length; i += 2) keep -= drop[i + 1] - drop[i];
  const n = keep + extra.length + h.contentLength;
  const out = into !== null && into.length >= n ? into.subarray(0, n) : Buffer.allocUnsafe(n);
  // a head is a few hundred bytes: copied by hand, without a view object per range
  let at = 0;
  let from = 0;
  for (let i = 0; i <= drop.length; i += 2) {
    const to = i < drop.length ? drop[i] : headEnd;
    for (let k = from; k < to; k++) out[at++] = d[k];
    from = i < drop.length ? drop[i + 1] : headEnd;
  }
  at += (out as unknown as Latin1).latin1Write(extra, at);
  if (h.contentLength > 0) d.copy(out, at, h.bodyStart, h.bodyStart + h.contentLength);
  return out;
}
