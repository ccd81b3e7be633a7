// HTTP listener end to end: real origins, undici and curl as clients.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import crypto from "node:crypto";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { request, Agent } from "undici";
import { startOrigin, freePort, sleep, type Origin } from "../support/net.ts";
import { startProxy, type TestProxy } from "../support/proxy.ts";

const run = promisify(execFile);
let a: Origin, b: Origin, api: Origin, echo: Origin, slow: Origin, hdr: Origin;
let proxy: TestProxy;
let base = "";
let deadPort = 0;
let blackhole: ChildProcess | null = null;
let blackholePort = 0;
const holders: net.Socket[] = [];

before(async () => {
  a = await startOrigin("a");
  b = await startOrigin("b");
  api = await startOrigin("api");
  echo = await startOrigin("echo", (req, res) => {
    // streams the body back and reports its hash in a trailer-free header first
    res.writeHead(200, { "content-type": "application/octet-stream" });
    req.pipe(res);
  });
  slow = await startOrigin("slow", () => { /* never answers */ });
  hdr = await startOrigin("hdr", (req, res) => {
    res.writeHead(200, {
      "content-type": "application/json",
      connection: "x-secret, keep-alive",
      "x-secret": "must not reach the client",
      "keep-alive": "timeout=5",
    });
    res.end(JSON.stringify({ headers: req.headers, raw: req.rawHeaders }));
  });
  deadPort = await freePort();
  // a listener that never accepts, with its queue filled: connects to it time out
  blackholePort = await freePort();
  blackhole = spawn("python3", ["-c", `import socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",${blackholePort}))\ns.listen(0)\nprint("up",flush=True)\ntime.sleep(120)`], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((r) => blackhole!.stdout!.once("data", () => r()));
  for (let i = 0; i < 3; i++) {
    const s = net.connect(blackholePort, "127.0.0.1");
    s.on("error", () => {});
    holders.push(s);
  }
  await sleep(200);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  proxy = await startProxy(`
log: { level: info }
upstreams:
  web:   { scheduler: rr, servers: [ { address: ${a.address} }, { address: ${b.address} } ] }
  api:   { scheduler: rr, servers: [ { address: ${api.address} } ] }
  echo:  { scheduler: rr, servers: [ { address: ${echo.address} } ] }
  slow:  { scheduler: rr, servers: [ { address: ${slow.address} } ] }
  hdr:   { scheduler: rr, servers: [ { address: ${hdr.address} } ] }
  dead:  { scheduler: rr, retries: 1, servers: [ { address: 127.0.0.1:${deadPort} } ] }
  hole:  { scheduler: rr, retries: 0, servers: [ { address: 127.0.0.1:${blackholePort} } ] }
  none:  { scheduler: rr, servers: [ { address: ${a.address}, weight: 0 } ] }
  retry: { scheduler: rr, retries: 2, passive: { max_fails: 0 }, servers: [ { address: 127.0.0.1:${deadPort} }, { address: ${a.address} }, { address: ${b.address} } ] }
listeners:
  - name: public
    protocol: http
    listen: 127.0.0.1:${port}
    timeouts: { connect: 500ms, header: 1s, idle: 1500ms, upstream_response: 700ms }
    routes:
      - { match: { host: api.example.com, path_prefix: /v1/ }, upstream: api }
      - { match: { path_prefix: /echo }, upstream: echo }
      - { match: { path_prefix: /slow }, upstream: slow }
      - { match: { path_prefix: /hdr }, upstream: hdr }
      - { match: { path_prefix: /dead }, upstream: dead }
      - { match: { path_prefix: /hole }, upstream: hole }
      - { match: { path_prefix: /none }, upstream: none }
      - { match: { path_prefix: /retry }, upstream: retry }
      - { match: { host: only.example.com }, upstream: api }
      - upstream: web
`);
});

after(async () => {
  await proxy?.stop();
  for (const o of [a, b, api, echo, slow, hdr]) await o?.close();
  for (const h of holders) h.destroy();
  if (blackhole?.pid !== undefined) process.kill(blackhole.pid);
});

async function get(path: string, headers: Record<string, string> = {}) {
  const r = await request(`${base}${path}`, { headers });
  const text = await r.body.text();
  return { status: r.statusCode, headers: r.headers, text };
}

test("routes by host and path prefix, first match wins, default route balances", async () => {
  assert.equal((await get("/v1/users", { host: "api.example.com" })).text, "api");
  // same host, path outside the prefix: falls through to the default route
  const other = await get("/v2/users", { host: "api.example.com" });
  assert.ok(other.text === "a" || other.text === "b");
  assert.equal((await get("/anything", { host: "only.example.com:8080" })).text, "api", "host match ignores the port");
  const seen = [];
  for (let i = 0; i < 4; i++) seen.push((await get("/x")).text);
  assert.deepEqual(new Set(seen), new Set(["a", "b"]), "rr spreads over both servers");
});

test("streams a 5 MB body both ways intact", async () => {
  const body = crypto.randomBytes(5 * 1024 * 1024);
  const want = crypto.createHash("sha256").update(body).digest("hex");
  const r = await request(`${base}/echo`, { method: "POST", body });
  const got = Buffer.from(await r.body.arrayBuffer());
  assert.equal(r.statusCode, 200);
  assert.equal(got.length, body.length);
  assert.equal(crypto.createHash("sha256").update(got).digest("hex"), want);
  // chunked upload (no content-length) through curl
  const file = `/tmp/sy-body-${process.pid}`;
  const fs = await import("node:fs");
  fs.writeFileSync(file, body);
  const { stdout } = await run("curl", ["-sS", "-H", "Transfer-Encoding: chunked", "--data-binary", `@${file}`, `${base}/echo`], { encoding: "buffer", maxBuffer: 16 * 1024 * 1024 });
  fs.unlinkSync(file);
  assert.equal(stdout.length, body.length, `curl got: ${stdout.subarray(0, 200).toString()}`);
  assert.equal(crypto.createHash("sha256").update(stdout).digest("hex"), want);
});

/** One raw HTTP/1.1 exchange over a fresh socket (undici strips some request headers itself). */
function rawExchange(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    let buf = "";
    s.on("data", (d) => { buf += d.toString("latin1"); });
    s.on("close", () => resolve(buf));
    s.on("error", reject);
    s.write(head);
    setTimeout(() => s.end(), 500);
  });
}

test("header rules: Host kept, X-Forwarded-* set, hop-by-hop and Connection-named headers removed both ways", async () => {
  const raw = await rawExchange(proxy.port("public"), [
    "GET /hdr HTTP/1.1", "Host: shop.example.com", "X-Forwarded-For: 198.51.100.7", "X-Drop-Me: 1",
    "Connection: keep-alive, X-Drop-Me", "TE: trailers", "Proxy-Connection: keep-alive", "Keep-Alive: timeout=9", "X-Keep: yes", "", "",
  ].join("\r\n"));
  const [head, body] = raw.split("\r\n\r\n");
  const h = (JSON.parse(body.slice(body.indexOf("{"), body.lastIndexOf("}") + 1)) as { headers: Record<string, string> }).headers;
  assert.equal(h.host, "shop.example.com");
  assert.equal(h["x-forwarded-for"], "198.51.100.7, 127.0.0.1");
  assert.equal(h["x-forwarded-proto"], "http");
  assert.equal(h["x-forwarded-host"], "shop.example.com");
  assert.equal(h["x-keep"], "yes");
  for (const gone of ["x-drop-me", "te", "proxy-connection"]) assert.equal(h[gone], undefined, `${gone} must not reach the server`);
  assert.doesNotMatch(head, /x-secret/i, "a header named in the server's Connection must not reach the client");
  assert.doesNotMatch(head, /keep-alive: timeout=5/i, "the server's Keep-Alive header is hop-by-hop");
});

test("keep-alive: many sequential requests reuse a few upstream connections", async () => {
  const before = api.sockets.size;
  const agent = new Agent({ connections: 1 });
  for (let i = 0; i < 30; i++) {
    const r = await request(`${base}/v1/x`, { headers: { host: "api.example.com" }, dispatcher: agent });
    await r.body.text();
  }
  await agent.close();
  assert.ok(api.sockets.size - before <= 2, `30 requests opened ${api.sockets.size - before} upstream connections`);
});

test("no response head within upstream_response: 504 upstream-timeout", async () => {
  const t0 = Date.now();
  const r = await get("/slow");
  assert.equal(r.status, 504);
  assert.equal(r.headers["x-switchyard-error"], "upstream-timeout");
  assert.ok(Date.now() - t0 < 3000);
});

test("every server refuses the connection: 502 connect-failed", async () => {
  const r = await get("/dead");
  assert.equal(r.status, 502);
  assert.equal(r.headers["x-switchyard-error"], "connect-failed");
});

test("connect timeout: 502 connect-failed within the connect timeout", async () => {
  const t0 = Date.now();
  const r = await get("/hole");
  const ms = Date.now() - t0;
  assert.equal(r.status, 502);
  assert.equal(r.headers["x-switchyard-error"], "connect-failed");
  assert.ok(ms >= 400 && ms < 2500, `took ${ms} ms`);
});

test("no eligible server: 503 no-server", async () => {
  const r = await get("/none");
  assert.equal(r.status, 503);
  assert.equal(r.headers["x-switchyard-error"], "no-server");
  assert.match(r.text, /no server/);
});

test("a dead server is retried on another with zero client errors", async () => {
  const counts: Record<string, number> = {};
  for (let i = 0; i < 30; i++) {
    const r = await get("/retry");
    assert.equal(r.status, 200, `request ${i} failed: ${r.status} ${r.text}`);
    counts[r.text] = (counts[r.text] ?? 0) + 1;
  }
  assert.ok((counts.a ?? 0) > 0 && (counts.b ?? 0) > 0, JSON.stringify(counts));
  const line = proxy.logs.find((l) => l.access === "http" && l.uri === "/retry" && l.tries === 2);
  assert.ok(line !== undefined, "an access line shows the retry");
});

test("header timeout: a client that never finishes its head gets 408 and is closed", async () => {
  const s = net.connect(proxy.port("public"), "127.0.0.1");
  s.write("GET / HTTP/1.1\r\nHost: x\r\n");
  const t0 = Date.now();
  const data = await new Promise<string>((resolve) => {
    let buf = "";
    s.on("data", (c) => { buf += c.toString(); });
    s.on("close", () => resolve(buf));
    setTimeout(() => { s.destroy(); resolve(buf); }, 5000);
  });
  assert.match(data, /^HTTP\/1\.1 408/);
  assert.ok(Date.now() - t0 < 4000);
});

test("idle keep-alive client connections are closed after timeouts.idle", async () => {
  const s = net.connect(proxy.port("public"), "127.0.0.1");
  s.write("GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
  const t0 = Date.now();
  const closedAfter = await new Promise<number>((resolve) => {
    s.on("data", () => {});
    s.on("close", () => resolve(Date.now() - t0));
    setTimeout(() => { s.destroy(); resolve(-1); }, 6000);
  });
  assert.ok(closedAfter >= 1000 && closedAfter < 4000, `closed after ${closedAfter} ms`);
});

test("curl through the proxy sees the balanced origins and an access line per request", async () => {
  const { stdout } = await run("curl", ["-sS", "-i", `${base}/hello`]);
  assert.match(stdout, /^HTTP\/1\.1 200/);
  assert.match(stdout, /x-origin: [ab]/i);
  const line = proxy.logs.findLast((l) => l.access === "http" && l.uri === "/hello");
  assert.ok(line !== undefined);
  assert.equal(line.status, 200);
  assert.equal(line.upstream, "web");
  assert.match(String(line.upstream_addr), /^127\.0\.0\.1:\d+$/);
});
