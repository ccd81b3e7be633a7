// Access lines from a running proxy: `log.access_format: combined` writes nginx's combined line
// (plus upstream fields) as the msg; the default JSON record carries the nginx field names.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { request } from "undici";
import { startOrigin, freePort, waitFor, type Origin } from "../support/net.ts";
import { startProxy, type TestProxy } from "../support/proxy.ts";

const COMBINED = /^(\S+) - (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)" rt=(\d+\.\d{3}) ua="([^"]*)" us="([^"]*)" urt="([^"]*)"$/;
let origin: Origin;
let combined: TestProxy, json: TestProxy;
let cPort = 0, jPort = 0;

before(async () => {
  origin = await startOrigin("o");
  cPort = await freePort();
  jPort = await freePort();
  const conf = (fmt: string, port: number): string => `
log: { level: info, access: true, access_format: ${fmt} }
upstreams: { web: { scheduler: rr, servers: [ { address: ${origin.address} } ] } }
listeners: [ { name: public, protocol: http, listen: 127.0.0.1:${port}, routes: [ { upstream: web } ] } ]
`;
  combined = await startProxy(conf("combined", cPort));
  json = await startProxy(conf("json", jPort));
});

after(async () => {
  await combined.stop();
  await json.stop();
  await origin.close();
});

const headers = { referer: "http://example.com/from", "user-agent": "Mozilla/5.0 (X11) \"quoted\"" };

test("combined: the nginx line, with the upstream address and times", async () => {
  const r = await request(`http://127.0.0.1:${cPort}/path/x?y=1`, { headers });
  assert.equal(await r.body.text(), "o");
  assert.ok(await waitFor(() => combined.logs.some((l) => typeof l.msg === "string" && COMBINED.test(l.msg))));
  const line = combined.logs.map((l) => String(l.msg)).find((m) => COMBINED.test(m)) ?? "";
  const m = COMBINED.exec(line);
  assert.ok(m !== null);
  assert.equal(m[1], "127.0.0.1");
  assert.equal(m[4], "GET /path/x?y=1 HTTP/1.1");
  assert.equal(m[5], "200");
  assert.equal(m[6], "1");
  assert.equal(m[7], "http://example.com/from");
  assert.equal(m[8], "Mozilla/5.0 (X11) \\x22quoted\\x22");
  assert.equal(m[10], origin.address);
  assert.equal(m[11], "200");
  assert.match(m[12], /^\d+\.\d{3}$/);
});

test("json: the record has the fields nginx users grep for", async () => {
  const r = await request(`http://127.0.0.1:${jPort}/j`, { headers });
  await r.body.text();
  assert.ok(await waitFor(() => json.logs.some((l) => l.access === "http")));
  const rec = json.logs.find((l) => l.access === "http") ?? {};
  for (const k of ["remote_addr", "method", "uri", "status", "bytes_sent", "upstream_addr", "upstream_response_time", "request_time", "http_referer", "http_user_agent", "server_protocol"]) assert.ok(k in rec, k);
  assert.equal(rec.http_referer, "http://example.com/from");
  assert.equal(rec.upstream_addr, origin.address);
  assert.equal(rec.server_protocol, "HTTP/1.1");
});
