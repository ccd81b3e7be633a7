// The upstream response fast path (src/protocols/http/response-head.ts) against llhttp, the parser it
// stands in for: whatever head the fast path takes, strict llhttp must accept with the same status,
// reason, fields, body length and keep-alive; what it must leave to llhttp (every hardening.md 1.2
// response case among them) it leaves. Where it passes a whole answer on as the upstream's own bytes
// (verbatimAnswer), those bytes must be exactly what the general path writes from the parsed fields.
// A seeded mutation run widens both comparisons.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fastHeadFields, fastHeadReason, parseFastHead, verbatimAnswer } from "../../../src/protocols/http/response-head.ts";
import { clientResponseHeaders } from "../../../src/protocols/http/headers.ts";
import { HTTPParser, kOnBody, kOnHeaders, kOnHeadersComplete, kOnMessageComplete } from "../../../src/protocols/http/llhttp.ts";

interface Parsed { ok: boolean; status: number; reason: string; headers: string[]; keepAlive: boolean; body: number; complete: boolean }

/** What strict llhttp (as h1-client.ts sets it up) makes of the bytes. */
function llhttp(bytes: Buffer): Parsed {
  const r: Parsed = { ok: true, status: 0, reason: "", headers: [], keepAlive: false, body: 0, complete: false };
  const p = new HTTPParser();
  p.initialize(HTTPParser.RESPONSE, {}, 65536, HTTPParser.kLenientNone);
  p[kOnHeaders] = (h: string[]) => { r.headers.push(...h); };
  p[kOnHeadersComplete] = (_ma: number, _mi: number, h: string[] | undefined, _m: unknown, _u: unknown, status: number, reason: string, _up: boolean, ka: boolean) => {
    if (h !== undefined) r.headers.push(...h);
    r.status = status;
    r.reason = reason;
    r.keepAlive = ka;
    return 0;
  };
  p[kOnBody] = (b: Buffer) => { r.body += b.length; };
  p[kOnMessageComplete] = () => { r.complete = true; };
  const out = p.execute(bytes);
  if (out instanceof Error) r.ok = false;
  p.close();
  return r;
}

/** The fast path's verdict checked against llhttp's; returns whether the fast path took it. */
function agree(raw: string | Buffer): boolean {
  const bytes = typeof raw === "string" ? Buffer.from(raw, "latin1") : raw;
  const f = parseFastHead(bytes);
  if (f === null) return false;
  // bytes past the response are nobody's (h1-client.ts drops the socket after the response, as it
  // does when llhttp finds them): llhttp is compared on the response itself
  const l = llhttp(bytes.subarray(0, Math.min(bytes.length, f.bodyStart + f.contentLength)));
  const show = JSON.stringify(bytes.toString("latin1"));
  assert.ok(l.ok, `fast path took what llhttp refuses: ${show}`);
  assert.equal(f.status, l.status, show);
  assert.equal(fastHeadReason(bytes, f), l.reason, show);
  assert.deepEqual(fastHeadFields(bytes, f), l.headers, show);
  assert.equal(f.keepAlive, l.keepAlive, show);
  // llhttp saw the whole body iff the fast path says it is all there
  const have = bytes.length - f.bodyStart;
  assert.equal(l.body, Math.min(have, f.contentLength), show);
  assert.equal(l.complete, have >= f.contentLength, show);
  if (have >= f.contentLength) {
    // the verbatim answer is the general one exactly when the head says it may go verbatim
    const same = verbatimAnswer(bytes, f, EXTRA).equals(general(bytes, f.bodyStart, f.contentLength, f.status, l.reason, l.headers));
    assert.equal(same, f.verbatim, `verbatim ${f.verbatim} but the answers ${same ? "agree" : "differ"}: ${show}`);
    if (f.verbatim) verbatimTaken++;
  }
  return true;
}

/** What the proxy adds behind the upstream's fields (h1-exchange.ts), here with a sticky cookie. */
const EXTRA = "set-cookie: sy=1; Path=/\r\nconnection: keep-alive\r\nkeep-alive: timeout=5\r\n\r\n";
let verbatimTaken = 0;

/** The answer as the general path writes it: clientResponseHeaders, one "name: value" line each (h1-exchange.ts head()). */
function general(bytes: Buffer, bodyStart: number, length: number, status: number, reason: string, fields: string[]): Buffer {
  const kept = clientResponseHeaders(fields, status, false);
  let s = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (let i = 0; i < kept.length; i += 2) s += `${kept[i]}: ${kept[i + 1]}\r\n`;
  return Buffer.concat([Buffer.from(s + EXTRA, "latin1"), bytes.subarray(bodyStart, bodyStart + length)]);
}

const BASE = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nDate: Fri, 27 Nov 2026 21:00:00 GMT\r\n\r\nhello";

test("common origin answers take the fast path, with what llhttp reports", () => {
  const take = [
    BASE,
    "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
    "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nConnection: close\r\n\r\nno!",
    "HTTP/1.1 503 Service Unavailable\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\nX-A:\tb c\r\n\r\nok",
    "HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\nx",
    "HTTP/1.1 301 Moved Permanently\r\nLocation: /a?b=c&d=%20\r\nSet-Cookie: a=b; Path=/\r\nSet-Cookie: c=d\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", // the body goes on in later reads
    "HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\n1234567",
  ];
  for (const t of take) assert.ok(agree(t), `expected the fast path for ${JSON.stringify(t)}`);
  const b = Buffer.from(BASE, "latin1");
  const h = parseFastHead(b);
  assert.ok(h !== null);
  assert.deepEqual(fastHeadFields(b, h), ["Content-Type", "text/plain", "Content-Length", "5", "Date", "Fri, 27 Nov 2026 21:00:00 GMT"]);
  assert.equal(h?.contentLength, 5);
  assert.equal(h?.keepAlive, true);
  assert.equal(parseFastHead(Buffer.from(take[2], "latin1"))?.keepAlive, false);
});

test("a Node origin's answer reaches the client as its own bytes, less the hop-by-hop lines", () => {
  const node = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nDate: Fri, 27 Nov 2026 21:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nhello";
  const b = Buffer.from(node, "latin1");
  const h = parseFastHead(b);
  assert.ok(h !== null && h.verbatim && h.hasDate);
  assert.equal(verbatimAnswer(b, h, "connection: close\r\n\r\n").toString("latin1"),
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nDate: Fri, 27 Nov 2026 21:00:00 GMT\r\nconnection: close\r\n\r\nhello");
  // hop-by-hop lines between kept ones, in any case; no Date
  const mid = "HTTP/1.1 200 OK\r\nkeep-alive: timeout=5\r\nA: 1\r\nTE: trailers\r\nB: 2\r\nCONNECTION: keep-alive\r\nContent-Length: 0\r\n\r\n";
  const m = Buffer.from(mid, "latin1");
  const mh = parseFastHead(m);
  assert.ok(mh !== null && mh.verbatim && !mh.hasDate);
  assert.equal(verbatimAnswer(m, mh, "\r\n").toString("latin1"), "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 0\r\n\r\n");
  // what the proxy would rewrite is not verbatim: other whitespace after a colon, a Content-Length with leading zeros
  for (const t of ["HTTP/1.1 200 OK\r\nA:1\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 200 OK\r\nA:  1\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 05\r\n\r\nhello"]) {
    assert.equal(parseFastHead(Buffer.from(t, "latin1"))?.verbatim, false, JSON.stringify(t));
    assert.ok(agree(t));
  }
  assert.equal(parseFastHead(Buffer.from("HTTP/1.1 200 OK\r\nConnection:close\r\nContent-Length: 0\r\n\r\n", "latin1"))?.verbatim, true); // a dropped line may read as it likes
});

test("everything outside the plain subset is left to llhttp (hardening.md 1.2 cases included)", () => {
  const leave = [
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", // CL + TE
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", // duplicate CL
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    "HTTP/1.1 200 OK\nContent-Length: 5\n\nhello", // bare LF
    "HTTP/1.1 200 OK\r\nContent-Length: 5\nX: y\r\n\r\nhello",
    "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 5\r\n\r\nhello", // obs-fold
    "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 5\r\n\r\nhello", // bare CR
    "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello", // space before the colon
    "HTTP/1.1 200 OK\r\nContent-Length: 5 \r\n\r\nhello", // trailing whitespace
    "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
    "HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close", // close-delimited
    "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
    "HTTP/1.1 200 OK\r\nConnection: upgrade\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nProxy-Connection: close\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nX: caf\xe9\r\nContent-Length: 0\r\n\r\n", // obs-text
    "HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nX:\r\nContent-Length: 0\r\n\r\n", // empty value
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", // head not complete in this read
    "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 099 X\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
    `HTTP/1.1 200 OK\r\nX: ${"a".repeat(9000)}\r\nContent-Length: 0\r\n\r\n`, // over MAX_FAST_HEAD
  ];
  for (const t of leave) assert.equal(parseFastHead(Buffer.from(t, "latin1")), null, `expected llhttp for ${JSON.stringify(t)}`);
});

test("seeded mutations of common answers: whatever the fast path takes, llhttp takes alike", () => {
  let seed = 0x2545f491;
  const rnd = (n: number): number => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) % n; };
  const alphabet = Buffer.from(" \t\r\n:;,-_0123456789aAzZ\x00\x7f\x80\xff\"()/\\", "latin1");
  const bases = [BASE, "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nConnection: close\r\n\r\nno!", "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nX-Y: z\r\n\r\n",
    "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nX: 1\r\nTE: a\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"].map((b) => Buffer.from(b, "latin1"));
  let taken = 0;
  verbatimTaken = 0;
  for (let i = 0; i < 20000; i++) {
    let b = Buffer.from(bases[rnd(bases.length)]);
    for (let m = 1 + rnd(3); m > 0; m--) {
      const at = rnd(b.length);
      const c = alphabet[rnd(alphabet.length)];
      const op = rnd(3);
      if (op === 0) b[at] = c;
      else if (op === 1) b = Buffer.concat([b.subarray(0, at), Buffer.from([c]), b.subarray(at)]);
      else b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
    }
    if (agree(b)) taken++;
  }
  assert.ok(taken > 1000, `the fast path took ${taken} of 20000 mutants: too few to compare`);
  assert.ok(verbatimTaken > 500 && verbatimTaken < taken, `${verbatimTaken} of ${taken} taken went verbatim: the comparison needs both kinds`);
});
