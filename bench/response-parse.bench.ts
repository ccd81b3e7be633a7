// Microbenchmark: one upstream response (head + 100-byte body, as bench/origin.ts answers), alternating
// in one process:
//   1. strict llhttp through Node's binding (what h1-client.ts runs for responses outside the fast subset);
//   2. the JavaScript fast path (src/protocols/http/response-head.ts): the head parsed, fields and reason
//      as strings, the body copied out of the read buffer (what the general answer path starts from);
//   3. the general answer: 2, then clientResponseHeaders and the client's head as one string, framed with
//      the body in one buffer (h1-exchange.ts head() + write());
//   4. the verbatim answer: the head parsed to offsets and the client's answer copied from the upstream's
//      bytes (verbatimAnswer, what a whole answer in one read takes).
// Usage: node bench/response-parse.bench.ts   (prints ns per response for each, medians of 7 rounds)
import { fastHeadFields, fastHeadReason, parseFastHead, verbatimAnswer } from "../src/protocols/http/response-head.ts";
import { clientResponseHeaders } from "../src/protocols/http/headers.ts";
import { HTTPParser, kOnBody, kOnHeaders, kOnHeadersComplete, kOnMessageComplete } from "../src/protocols/http/llhttp.ts";

const body = "x".repeat(100);
const res = Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\ndate: Fri, 27 Nov 2026 21:00:00 GMT\r\nconnection: keep-alive\r\nkeep-alive: timeout=5\r\n\r\n${body}`, "latin1");
/** What the proxy adds behind the upstream's fields (h1-exchange.ts). */
const OWN = "connection: keep-alive\r\nkeep-alive: timeout=5\r\n\r\n";
const N = 200_000;
let sink = 0;

const p = new HTTPParser();
p.initialize(HTTPParser.RESPONSE, {}, 65536, HTTPParser.kLenientNone);
p[kOnHeaders] = () => {};
p[kOnHeadersComplete] = (_a: number, _b: number, h: string[] | undefined, _m: unknown, _u: unknown, status: number) => { sink += status + (h?.length ?? 0); return 0; };
p[kOnBody] = (b: Buffer) => { sink += b.length; };
p[kOnMessageComplete] = () => { sink++; };

function timed(f: () => void): number {
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) f();
  return Number(process.hrtime.bigint() - t) / N;
}

function viaLlhttp(): void { p.execute(res); }

/** The fast path's parse as the general path uses it: fields and reason as strings, the body copied. */
function fastParse(): { status: number; reason: string; fields: string[]; chunk: Buffer } {
  const h = parseFastHead(res);
  if (h === null) throw new Error("not on the fast path");
  const chunk = Buffer.allocUnsafe(h.contentLength); // the copy h1-client makes, as llhttp's binding does
  res.copy(chunk, 0, h.bodyStart, h.bodyStart + h.contentLength);
  return { status: h.status, reason: fastHeadReason(res, h), fields: fastHeadFields(res, h), chunk };
}

function viaFast(): void { const r = fastParse(); sink += r.status + r.fields.length + r.chunk.length; }

function generalAnswer(): void {
  const r = fastParse();
  const kept = clientResponseHeaders(r.fields, r.status, false);
  let s = `HTTP/1.1 ${r.status} ${r.reason}\r\n`;
  for (let i = 0; i < kept.length; i += 2) s += `${kept[i]}: ${kept[i + 1]}\r\n`;
  s += OWN;
  const out = Buffer.allocUnsafe(s.length + r.chunk.length);
  out.write(s, 0, "latin1");
  r.chunk.copy(out, s.length);
  sink += out.length;
}

function verbatim(): void {
  const h = parseFastHead(res);
  if (h === null || !h.verbatim) throw new Error("not verbatim");
  sink += verbatimAnswer(res, h, OWN).length;
}

const cases: [string, () => void][] = [
  ["llhttp (binding + 3 callbacks)", viaLlhttp],
  ["fast path (parse, fields, body copy)", viaFast],
  ["general answer (fast path + client head + frame)", generalAnswer],
  ["verbatim answer (offsets + copy)", verbatim],
];
const times: number[][] = cases.map(() => []);
for (let r = 0; r < 8; r++) {
  cases.forEach(([, f], i) => { const t = timed(f); if (r > 0) times[i].push(t); }); // round 0 warms up
}
const med = (v: number[]): number => [...v].sort((m, n) => m - n)[v.length >> 1];
for (let i = 0; i < cases.length; i++) console.log(`${cases[i][0]}: ${med(times[i]).toFixed(0)} ns/response`);
console.log(`verbatim / general answer: ${(med(times[3]) / med(times[2])).toFixed(2)}  (${sink > 0 ? "checked" : ""})`);
