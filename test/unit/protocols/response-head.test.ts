// The upstream response fast path (src/protocols/http/response-head.ts) against llhttp, the parser it
// stands in for: whatever head the fast path takes, strict llhttp must accept with the same status,
// reason, fields, body length and keep-alive; what it must leave to llhttp (every hardening.md 1.2
// response case among them) it leaves. A seeded mutation run widens the comparison.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseFastHead } from "../../../src/protocols/http/response-head.ts";
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
  assert.equal(f.reason, l.reason, show);
  assert.deepEqual(f.headers, l.headers, show);
  assert.equal(f.keepAlive, l.keepAlive, show);
  // llhttp saw the whole body iff the fast path says it is all there
  const have = bytes.length - f.bodyStart;
  assert.equal(l.body, Math.min(have, f.contentLength), show);
  assert.equal(l.complete, have >= f.contentLength, show);
  return true;
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
  const h = parseFastHead(Buffer.from(BASE, "latin1"));
  assert.deepEqual(h?.headers, ["Content-Type", "text/plain", "Content-Length", "5", "Date", "Fri, 27 Nov 2026 21:00:00 GMT"]);
  assert.equal(h?.contentLength, 5);
  assert.equal(h?.keepAlive, true);
  assert.equal(parseFastHead(Buffer.from(take[2], "latin1"))?.keepAlive, false);
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
  const bases = [BASE, "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nConnection: close\r\n\r\nno!", "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nX-Y: z\r\n\r\n"].map((b) => Buffer.from(b, "latin1"));
  let taken = 0;
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
});
