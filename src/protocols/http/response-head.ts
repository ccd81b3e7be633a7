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
// length and keep-alive; test/unit/http/response-head.test.ts checks both parsers against each other.
// Anything else (1xx, 101, 204/304, chunked, a close-delimited body, obs-fold, a bare LF or CR, control
// or non-ASCII bytes, a head split across reads, HTTP/1.0) is llhttp's to accept or refuse.

/** Longer heads (or heads not complete in the read) go to llhttp. */
export const MAX_FAST_HEAD = 8 * 1024;

export interface FastHead {
  readonly status: number;
  readonly reason: string;
  /** Flat [name, value, ...] as sent. */
  readonly headers: string[];
  readonly contentLength: number;
  readonly keepAlive: boolean;
  /** Offset of the first body byte in the buffer. */
  readonly bodyStart: number;
}

// RFC 9110 §5.6.2 tchar
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) { TCHAR[c] = 1; TCHAR[c + 32] = 1; }

/** Buffer's own latin1 decoder (what toString("latin1", ...) ends in), without the argument checks. */
interface Latin1 { latin1Slice(start: number, end: number): string }

/** name equals `lower` (a-z and "-") ignoring ASCII case. */
function named(s: string, from: number, to: number, lower: string): boolean {
  if (to - from !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if ((s.charCodeAt(from + i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** The head at the start of d when it is in the subset above; null: llhttp's to parse. */
export function parseFastHead(d: Buffer): FastHead | null {
  const len = d.length;
  if (len < 19 || d[0] !== 72 || d[5] !== 49 || d[6] !== 46 || d[7] !== 49 || d[8] !== 32) return null; // "H", "1.1 "
  // one pass over the head: every scan below stops at the first byte outside its class, and
  // charCodeAt past the end gives NaN, which is in no class
  const s = (d as unknown as Latin1).latin1Slice(0, len < MAX_FAST_HEAD ? len : MAX_FAST_HEAD);
  if (!s.startsWith("HTTP/1.1 ")) return null;
  const d0 = s.charCodeAt(9) - 48;
  const d1 = s.charCodeAt(10) - 48;
  const d2 = s.charCodeAt(11) - 48;
  if (d0 < 2 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9 || s.charCodeAt(12) !== 32) return null;
  const status = d0 * 100 + d1 * 10 + d2;
  if (status === 204 || status === 304) return null;
  let e = 13;
  let c = s.charCodeAt(e);
  while ((c >= 32 && c <= 126) || c === 9) c = s.charCodeAt(++e);
  if (c !== 13 || s.charCodeAt(e + 1) !== 10) return null;
  const reason = s.slice(13, e);
  const headers: string[] = [];
  let cl = -1;
  let keepAlive = true;
  let p = e + 2;
  for (;;) {
    c = s.charCodeAt(p);
    if (c === 13) break; // the empty line (checked below)
    let i = p;
    while (TCHAR[c] === 1) c = s.charCodeAt(++i);
    if (i === p || c !== 58) return null; // empty name, or a byte that is neither tchar nor ":"
    let v = i + 1;
    c = s.charCodeAt(v);
    while (c === 32 || c === 9) c = s.charCodeAt(++v);
    e = v;
    while ((c >= 32 && c <= 126) || c === 9) c = s.charCodeAt(++e);
    if (c !== 13 || s.charCodeAt(e + 1) !== 10 || e === v) return null; // a bare CR or LF, a control byte, or an empty value
    const last = s.charCodeAt(e - 1);
    if (last === 32 || last === 9) return null;
    switch (i - p) {
      case 10:
        if (named(s, p, i, "connection")) {
          if (named(s, v, e, "close")) keepAlive = false;
          else if (!named(s, v, e, "keep-alive")) return null;
        }
        break;
      case 14:
        if (named(s, p, i, "content-length")) {
          if (cl >= 0 || e - v > 15) return null;
          let n = 0;
          for (let k = v; k < e; k++) {
            const x = s.charCodeAt(k) - 48;
            if (x < 0 || x > 9) return null;
            n = n * 10 + x;
          }
          cl = n;
        }
        break;
      case 16: if (named(s, p, i, "proxy-connection")) return null; break;
      case 17: if (named(s, p, i, "transfer-encoding")) return null; break;
      default: break;
    }
    headers.push(s.slice(p, i), s.slice(v, e));
    p = e + 2;
  }
  if (s.charCodeAt(p + 1) !== 10 || cl < 0) return null;
  return { status, reason, headers, contentLength: cl, keepAlive, bodyStart: p + 2 };
}
