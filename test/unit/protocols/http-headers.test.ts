// The header rules both ways (headers.ts), whatever the case clients and servers write names in.
import { test } from "node:test";
import assert from "node:assert/strict";
import { clientResponseHeaders, upstreamRequestHeaders } from "../../../src/protocols/http/headers.ts";

const fwd = { clientIp: "127.0.0.9", proto: "http" as const, authority: "App.example:8080", bodyLength: 0, expectContinue: false, upgrade: null };

function pairs(flat: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}

test("upstream request: hop-by-hop and Connection-named fields go in any case; Host, X-Forwarded-* are the proxy's", () => {
  const raw = [
    "HOST", "App.example:8080", "Connection", "Keep-Alive, X-Secret", "KEEP-ALIVE", "timeout=5", "Proxy-Connection", "x",
    "TE", "trailers", "Upgrade", "h2c", "X-Secret", "s", "X-Forwarded-For", "10.0.0.1", "x-forwarded-proto", "https",
    "X-Forwarded-Host", "evil", "Expect", "100-continue", "User-Agent", "curl/8", "cookie", "a=1", "Cookie", "b=2",
  ];
  const got = pairs(upstreamRequestHeaders(raw, fwd));
  assert.deepEqual(got, [
    ["host", "App.example:8080"],
    ["User-Agent", "curl/8"],
    ["cookie", "a=1; b=2"],
    ["x-forwarded-for", "10.0.0.1, 127.0.0.9"],
    ["x-forwarded-proto", "http"],
    ["x-forwarded-host", "App.example:8080"],
  ]);
});

test("upstream request: Connection cannot remove Host or Content-Length; the framing is the proxy's own", () => {
  const raw = ["Host", "a", "Connection", "host, content-length", "Content-Length", "5", "Transfer-Encoding", "chunked"];
  const got = pairs(upstreamRequestHeaders(raw, { ...fwd, authority: "a", bodyLength: 5 }));
  assert.deepEqual(got.map(([n]) => n), ["host", "content-length", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"]);
  assert.deepEqual(got[1], ["content-length", "5"]);
  const chunked = pairs(upstreamRequestHeaders(["Host", "a", "Transfer-Encoding", "chunked"], { ...fwd, authority: "a", bodyLength: -1 }));
  assert.deepEqual(chunked[1], ["transfer-encoding", "chunked"]);
});

test("response: hop-by-hop and Connection-named fields removed in any case; Content-Length canonical, none on 204", () => {
  const raw = ["Content-Type", "text/plain", "CONNECTION", "keep-alive", "Keep-Alive", "timeout=60", "Connection", "X-Internal",
    "x-internal", "1", "Content-Length", "0012", "Date", "today", "Transfer-Encoding", "chunked", "Trailer", "x"];
  assert.deepEqual(pairs(clientResponseHeaders(raw, 200, false)), [["Content-Type", "text/plain"], ["Content-Length", "12"], ["Date", "today"]]);
  assert.deepEqual(pairs(clientResponseHeaders(["Content-Length", "0", "ETag", "e"], 204, false)), [["ETag", "e"]]);
  assert.deepEqual(pairs(clientResponseHeaders(["Host", "x", "ETag", "e"], 200, true)), [["ETag", "e"]], "HTTP/2 answers carry no host field");
  assert.deepEqual(pairs(clientResponseHeaders(["Host", "x"], 200, false)), [["Host", "x"]]);
});
