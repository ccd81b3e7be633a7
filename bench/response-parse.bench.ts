// Microbenchmark: one upstream response (head + 100-byte body, as bench/origin.ts answers) parsed by
// strict llhttp through Node's binding (what h1-client.ts runs for responses outside the fast subset)
// against the JavaScript fast path (src/protocols/http/response-head.ts), alternating in one process.
// Usage: node bench/response-parse.bench.ts   (prints ns per response for each, medians of 7 rounds)
import { fastHeadFields, parseFastHead } from "../src/protocols/http/response-head.ts";
import { HTTPParser, kOnBody, kOnHeaders, kOnHeadersComplete, kOnMessageComplete } from "../src/protocols/http/llhttp.ts";

const body = "x".repeat(100);
const res = Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\ndate: Fri, 27 Nov 2026 21:00:00 GMT\r\nconnection: keep-alive\r\nkeep-alive: timeout=5\r\n\r\n${body}`, "latin1");
const N = 200_000;
let sink = 0;

const p = new HTTPParser();
p.initialize(HTTPParser.RESPONSE, {}, 65536, HTTPParser.kLenientNone);
p[kOnHeaders] = () => {};
p[kOnHeadersComplete] = (_a: number, _b: number, h: string[] | undefined, _m: unknown, _u: unknown, status: number) => { sink += status + (h?.length ?? 0); return 0; };
p[kOnBody] = (b: Buffer) => { sink += b.length; };
p[kOnMessageComplete] = () => { sink++; };

function viaLlhttp(): number {
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) p.execute(res);
  return Number(process.hrtime.bigint() - t) / N;
}

function viaFast(): number {
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const h = parseFastHead(res);
    if (h === null) throw new Error("not on the fast path");
    sink += h.status + fastHeadFields(res, h).length;
    const chunk = Buffer.allocUnsafe(h.contentLength); // the copy h1-client makes, as llhttp's binding does
    res.copy(chunk, 0, h.bodyStart, h.bodyStart + h.contentLength);
    sink += chunk.length + 1;
  }
  return Number(process.hrtime.bigint() - t) / N;
}

const a: number[] = [];
const b: number[] = [];
for (let r = 0; r < 8; r++) {
  const x = viaLlhttp();
  const y = viaFast();
  if (r > 0) { a.push(x); b.push(y); } // round 0 warms both up
}
const med = (v: number[]): number => [...v].sort((m, n) => m - n)[v.length >> 1];
console.log(`llhttp (binding + 3 callbacks): ${med(a).toFixed(0)} ns/response`);
console.log(`fast path (parseFastHead + body copy): ${med(b).toFixed(0)} ns/response`);
console.log(`ratio: ${(med(b) / med(a)).toFixed(2)}  (${sink > 0 ? "checked" : ""})`);
