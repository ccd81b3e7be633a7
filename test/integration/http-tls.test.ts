// TLS termination (SNI, ALPN h2 + http/1.1, minimum TLS 1.2, certificates re-read on reload), HTTP/2 to
// clients (curl --http2, h2load, node:http2: streams as units of work, trailers, HEAD, RST on a cut-off),
// and TLS to upstreams (ca, servername, verify).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import https from "node:https";
import http2 from "node:http2";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { startOrigin, freePort, sleep, type Origin } from "../support/net.ts";
import { startProxy, type TestProxy } from "../support/proxy.ts";
import { recordRows, type CaseRow } from "./http-helpers.ts";

const run = promisify(execFile);
const FIX = path.resolve(import.meta.dirname, "../fixtures/tls");
const fx = (f: string): string => path.join(FIX, f);
const CA = fs.readFileSync(fx("http-ca.pem"));
const rows: CaseRow[] = [];

let dir = "";
let web: Origin, slow: Origin, trailers: Origin, cut: Origin, echo: Origin;
let secureOrigin: https.Server;
let secureOriginPort = 0;
let proxy: TestProxy;
let port = 0;
let yaml = "";

function config(certFile: string): string {
  return `
log: { level: info }
upstreams:
  web: { scheduler: rr, servers: [ { address: ${web.address} } ] }
  echo: { scheduler: rr, servers: [ { address: ${echo.address} } ] }
  slow: { scheduler: rr, servers: [ { address: ${slow.address} } ] }
  trailers: { scheduler: rr, servers: [ { address: ${trailers.address} } ] }
  cut: { scheduler: rr, retries: 0, servers: [ { address: ${cut.address} } ] }
  tlsup:
    scheduler: rr
    tls: { ca: ${fx("http-ca.pem")}, servername: origin.switchyard.test }
    servers: [ { address: 127.0.0.1:${secureOriginPort} } ]
  tlsbad: { scheduler: rr, retries: 0, tls: true, servers: [ { address: 127.0.0.1:${secureOriginPort} } ] }
  tlsnoverify: { scheduler: rr, tls: { verify: false }, servers: [ { address: 127.0.0.1:${secureOriginPort} } ] }
listeners:
  - name: https
    protocol: http
    listen: 127.0.0.1:${port}
    tls:
      - { cert: ${certFile}, key: ${path.join(dir, "default-key.pem")} }
      - { hosts: [ a.switchyard.test ], cert: ${fx("http-a-cert.pem")}, key: ${fx("http-a-key.pem")} }
      - { hosts: [ "*.wild.switchyard.test" ], cert: ${fx("http-wild-cert.pem")}, key: ${fx("http-wild-key.pem")} }
    timeouts: { header: 2s, idle: 3s, upstream_response: 2s }
    routes:
      - { match: { path_prefix: /slow }, upstream: slow }
      - { match: { path_prefix: /echo }, upstream: echo }
      - { match: { path_prefix: /trailers }, upstream: trailers }
      - { match: { path_prefix: /cut }, upstream: cut }
      - { match: { path_prefix: /tlsup }, upstream: tlsup }
      - { match: { path_prefix: /tlsbad }, upstream: tlsbad }
      - { match: { path_prefix: /tlsnoverify }, upstream: tlsnoverify }
      - upstream: web
`;
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sy-tls-"));
  // the default certificate lives in a scratch copy, so a test can renew it in place
  fs.copyFileSync(fx("http-default-cert.pem"), path.join(dir, "default-cert.pem"));
  fs.copyFileSync(fx("http-default-key.pem"), path.join(dir, "default-key.pem"));
  web = await startOrigin("web", (req, res) => {
    res.writeHead(200, { "content-type": "application/json", "x-origin": "web" });
    res.end(JSON.stringify({ url: req.url, headers: req.headers, httpVersion: req.httpVersion }));
  });
  echo = await startOrigin("echo", (req, res) => {
    res.writeHead(200, { "content-type": "application/octet-stream", "x-seen-length": String(req.headers["content-length"] ?? "none"), "x-seen-te": String(req.headers["transfer-encoding"] ?? "none") });
    req.pipe(res);
  });
  slow = await startOrigin("slow", (_req, res) => { setTimeout(() => res.end("slow"), 300); });
  trailers = await startOrigin("trailers", (_req, res) => {
    res.writeHead(200, { "content-type": "text/plain", trailer: "x-checksum" });
    res.write("part1;");
    res.write("part2");
    res.addTrailers({ "x-checksum": "abc123" });
    res.end();
  });
  cut = await startOrigin("cut", (_req, res) => {
    res.writeHead(200, { "content-length": "100" });
    res.write("only-this");
    setTimeout(() => res.socket?.destroy(), 50);
  });
  secureOrigin = https.createServer({ cert: fs.readFileSync(fx("http-origin-cert.pem")), key: fs.readFileSync(fx("http-origin-key.pem")) }, (req, res) => {
    res.end(JSON.stringify({ secure: true, sni: (req.socket as tls.TLSSocket).servername, url: req.url }));
  });
  await new Promise<void>((r) => secureOrigin.listen(0, "127.0.0.1", () => r()));
  const a = secureOrigin.address();
  secureOriginPort = a !== null && typeof a === "object" ? a.port : 0;
  port = await freePort();
  yaml = config(path.join(dir, "default-cert.pem"));
  proxy = await startProxy(yaml);
});

after(async () => {
  await proxy?.stop();
  for (const o of [web, slow, trailers, cut, echo]) await o?.close();
  secureOrigin?.closeAllConnections();
  await new Promise<void>((r) => secureOrigin?.close(() => r()));
  fs.rmSync(dir, { recursive: true, force: true });
  recordRows("tls", rows);
});

/** TLS handshake only: the certificate's CN, the negotiated protocol and ALPN. */
function handshake(servername: string | undefined, opts: tls.ConnectionOptions = {}): Promise<{ cn: string; protocol: string | null; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, servername, ca: CA, rejectUnauthorized: false, ...opts }, () => {
      const cert = s.getPeerCertificate();
      resolve({ cn: String(cert.subject?.CN ?? ""), protocol: s.getProtocol(), alpn: s.alpnProtocol ?? false });
      s.destroy();
    });
    s.on("error", reject);
  });
}

test("SNI picks the certificate: exact name, wildcard one level down, default otherwise", async () => {
  assert.equal((await handshake("a.switchyard.test")).cn, "a.switchyard.test");
  assert.equal((await handshake("x.wild.switchyard.test")).cn, "wild.switchyard.test");
  assert.equal((await handshake("deeper.x.wild.switchyard.test")).cn, "localhost", "a wildcard covers one label only");
  assert.equal((await handshake("unknown.example")).cn, "localhost");
  assert.equal((await handshake(undefined)).cn, "localhost", "no SNI: the default certificate");
  rows.push({ id: "TLS-SNI", expected: "exact, *.wildcard (one label), default certificate", result: "pass" });
});

test("TLS 1.2 minimum: a TLS 1.1 client is refused, 1.2 and 1.3 work; ALPN offers h2 and http/1.1", async () => {
  await assert.rejects(handshake("a.switchyard.test", { maxVersion: "TLSv1.1", minVersion: "TLSv1" }));
  assert.equal((await handshake("a.switchyard.test", { maxVersion: "TLSv1.2" })).protocol, "TLSv1.2");
  assert.equal((await handshake("a.switchyard.test")).protocol, "TLSv1.3");
  assert.equal((await handshake("a.switchyard.test", { ALPNProtocols: ["h2", "http/1.1"] })).alpn, "h2");
  assert.equal((await handshake("a.switchyard.test", { ALPNProtocols: ["http/1.1"] })).alpn, "http/1.1");
  rows.push({ id: "TLS-MIN", expected: "TLS 1.1 refused; ALPN h2, http/1.1", result: "pass" });
});

test("HTTPS over HTTP/1.1 reaches the origin with X-Forwarded-Proto https", async () => {
  const { stdout } = await run("curl", ["-sS", "--http1.1", "--cacert", fx("http-ca.pem"), "--resolve", `a.switchyard.test:${port}:127.0.0.1`, `https://a.switchyard.test:${port}/h1?x=1`]);
  const body = JSON.parse(stdout) as { url: string; headers: Record<string, string>; httpVersion: string };
  assert.equal(body.url, "/h1?x=1");
  assert.equal(body.headers["x-forwarded-proto"], "https");
  assert.equal(body.headers.host, `a.switchyard.test:${port}`);
});

test("curl --http2 through the TLS listener: HTTP/2 to the client, HTTP/1.1 to the origin", async () => {
  const { stdout } = await run("curl", ["-sS", "-i", "--http2", "--cacert", fx("http-ca.pem"), "--resolve", `a.switchyard.test:${port}:127.0.0.1`, `https://a.switchyard.test:${port}/h2`]);
  assert.match(stdout, /^HTTP\/2 200/);
  assert.match(stdout, /x-origin: web/);
  const body = JSON.parse(stdout.slice(stdout.indexOf("{"))) as { headers: Record<string, string>; httpVersion: string };
  assert.equal(body.httpVersion, "1.1");
  assert.equal(body.headers.host, `a.switchyard.test:${port}`, ":authority becomes Host upstream");
  const line = proxy.logs.findLast((l) => l.access === "http" && l.uri === "/h2");
  assert.equal(line?.server_protocol, "HTTP/2.0");
  rows.push({ id: "H2-CURL", expected: "curl --http2: HTTP/2 200 via TLS listener", result: "pass" });
});

test("h2load: 2000 requests over 10 connections x 10 streams, all 2xx", async () => {
  const { stdout } = await run("h2load", ["-n", "2000", "-c", "10", "-m", "10", `https://127.0.0.1:${port}/load`], { timeout: 60_000 });
  const m = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(stdout);
  assert.ok(m !== null, stdout);
  assert.equal(Number(m[4]), 2000, stdout);
  assert.match(stdout, /status codes: 2000 2xx/);
  assert.match(stdout, /Application protocol: h2/);
  const rps = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(stdout);
  rows.push({ id: "H2-LOAD", expected: "h2load 2000 req, 10 conns x 10 streams: all 2xx", result: `pass (${rps?.[1] ?? "?"} req/s, shared 2-core box)` });
});

function h2request(p: string, headers: http2.OutgoingHttpHeaders = {}): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string; trailers: http2.IncomingHttpHeaders | null; error: string | null }> {
  return new Promise((resolve) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: CA, servername: "a.switchyard.test" });
    session.on("error", () => {});
    const req = session.request({ ":path": p, ":authority": "a.switchyard.test", ...headers });
    let status = 0;
    let hdrs: http2.IncomingHttpHeaders = {};
    let body = "";
    let trailers: http2.IncomingHttpHeaders | null = null;
    req.on("response", (h) => { hdrs = h; status = Number(h[":status"]); });
    req.on("trailers", (t) => { trailers = t; });
    req.on("data", (d: Buffer) => { body += d.toString(); });
    req.on("end", () => { session.close(); resolve({ status, headers: hdrs, body, trailers, error: null }); });
    req.on("error", (e: Error) => { session.destroy(); resolve({ status, headers: hdrs, body, trailers, error: (e as NodeJS.ErrnoException).code ?? e.message }); });
    req.end();
  });
}

test("HTTP/2: trailers are forwarded; HEAD has no body; a cut-off upstream response resets the stream", async () => {
  const t = await h2request("/trailers");
  assert.equal(t.status, 200);
  assert.equal(t.body, "part1;part2");
  assert.equal(t.trailers?.["x-checksum"], "abc123");
  const h = await h2request("/", { ":method": "HEAD" });
  assert.equal(h.status, 200);
  assert.equal(h.body, "");
  const c = await h2request("/cut");
  assert.equal(c.status, 200);
  assert.equal(c.body, "only-this");
  assert.ok(c.error !== null, "the stream must end with an error (RST_STREAM), not as complete");
  rows.push({ id: "H2-SEM", expected: "h2 trailers forwarded, HEAD bodyless, cut-off = RST_STREAM", result: "pass" });
});

test("HTTP/2: each stream is one unit of work; concurrent streams on one connection spread over the pool", async () => {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: CA, servername: "a.switchyard.test" });
  const pool = proxy.rt.pools.get("slow");
  assert.ok(pool !== undefined);
  const server = pool.servers[0];
  const total0 = server.total;
  let peak = 0;
  const sampler = setInterval(() => { peak = Math.max(peak, server.active); }, 20);
  await Promise.all(Array.from({ length: 8 }, () => new Promise<void>((resolve) => {
    const req = session.request({ ":path": "/slow", ":authority": "a.switchyard.test" });
    req.on("data", () => {});
    req.on("end", () => resolve());
    req.end();
  })));
  clearInterval(sampler);
  session.close();
  assert.equal(server.total - total0, 8);
  assert.ok(peak >= 6, `8 concurrent streams were ${peak} active units at most`);
});

test("HTTP/2: CONNECT is refused; h2c (HTTP/2 without TLS) is not spoken", async () => {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: CA, servername: "a.switchyard.test" });
  session.on("error", () => {});
  const status = await new Promise<number>((resolve) => {
    const req = session.request({ ":method": "CONNECT", ":authority": "evil.example:443" });
    req.on("response", (h) => resolve(Number(h[":status"])));
    req.on("error", () => resolve(-1));
  });
  session.destroy();
  assert.equal(status, 405);
  rows.push({ id: "H2-CONNECT", expected: "CONNECT on h2 refused", result: "pass (405)" });
});

test("TLS to upstreams: ca + servername verified; verify without the CA fails with 502; verify: false connects", async () => {
  const ok = await run("curl", ["-sS", "-k", `https://127.0.0.1:${port}/tlsup/x`]);
  const body = JSON.parse(ok.stdout) as { secure: boolean; sni: string };
  assert.equal(body.secure, true);
  assert.equal(body.sni, "origin.switchyard.test");
  const bad = await run("curl", ["-sS", "-k", "-i", `https://127.0.0.1:${port}/tlsbad/x`]);
  assert.match(bad.stdout, /^HTTP\/(1\.1|2) 502/);
  assert.match(bad.stdout, /x-switchyard-error: connect-failed/);
  const nv = await run("curl", ["-sS", "-k", `https://127.0.0.1:${port}/tlsnoverify/x`]);
  assert.equal((JSON.parse(nv.stdout) as { secure: boolean }).secure, true);
  rows.push({ id: "TLS-UP", expected: "upstream TLS: ca/servername verified, bad chain 502, verify:false ok", result: "pass" });
});

test("a renewed certificate file is served after a reload (same path, new content)", async () => {
  assert.equal((await handshake("unknown.example")).cn, "localhost");
  fs.copyFileSync(fx("http-origin-cert.pem"), path.join(dir, "default-cert.pem"));
  fs.copyFileSync(fx("http-origin-key.pem"), path.join(dir, "default-key.pem"));
  const r = await proxy.reload(yaml);
  assert.equal(r.ok, true);
  await sleep(50);
  assert.equal((await handshake("unknown.example")).cn, "origin.switchyard.test");
  // a broken file on the next reload keeps the certificates in use
  fs.writeFileSync(path.join(dir, "default-cert.pem"), "not a certificate");
  await proxy.reload(yaml);
  assert.equal((await handshake("unknown.example")).cn, "origin.switchyard.test");
  fs.copyFileSync(fx("http-default-cert.pem"), path.join(dir, "default-cert.pem"));
  fs.copyFileSync(fx("http-default-key.pem"), path.join(dir, "default-key.pem"));
  await proxy.reload(yaml);
  assert.equal((await handshake("unknown.example")).cn, "localhost");
  rows.push({ id: "TLS-RELOAD", expected: "certificate files re-read on reload; a bad file keeps the old ones", result: "pass" });
});

test("a client that never finishes the TLS handshake is closed after timeouts.header", async () => {
  const net = await import("node:net");
  const s = net.connect(port, "127.0.0.1");
  const t0 = Date.now();
  const closedAfter = await new Promise<number>((resolve) => {
    s.on("connect", () => s.write(Buffer.from([0x16, 0x03, 0x01]))); // a ClientHello that never completes
    s.on("close", () => resolve(Date.now() - t0));
    s.on("error", () => {});
    setTimeout(() => { s.destroy(); resolve(-1); }, 6000);
  });
  assert.ok(closedAfter >= 1500 && closedAfter < 4000, `closed after ${closedAfter} ms`);
});

test("HTTP/2 request bodies stream to the HTTP/1.1 origin (with and without content-length); 101 header fields get 431", async () => {
  const crypto = await import("node:crypto");
  const body = crypto.randomBytes(1024 * 1024 + 7);
  for (const withLength of [true, false]) {
    const got = await new Promise<{ status: number; data: Buffer; h: http2.IncomingHttpHeaders }>((resolve, reject) => {
      const session = http2.connect(`https://127.0.0.1:${port}`, { ca: CA, servername: "a.switchyard.test" });
      const headers: http2.OutgoingHttpHeaders = { ":method": "POST", ":path": "/echo", ":authority": "a.switchyard.test" };
      if (withLength) headers["content-length"] = String(body.length);
      const req = session.request(headers);
      const parts: Buffer[] = [];
      let status = 0;
      let h: http2.IncomingHttpHeaders = {};
      req.on("response", (x) => { h = x; status = Number(x[":status"]); });
      req.on("data", (d: Buffer) => parts.push(d));
      req.on("end", () => { session.close(); resolve({ status, data: Buffer.concat(parts), h }); });
      req.on("error", reject);
      req.end(body);
    });
    assert.equal(got.status, 200);
    assert.ok(got.data.equals(body), "1 MiB body intact both ways");
    if (withLength) assert.equal(got.h["x-seen-length"], String(body.length));
    else assert.equal(got.h["x-seen-te"], "chunked", "unknown length goes upstream chunked");
  }
  const many: http2.OutgoingHttpHeaders = {};
  for (let i = 0; i < 101; i++) many[`x-h${i}`] = "v";
  const r = await h2request("/", many);
  assert.equal(r.status, 431);
  rows.push({ id: "H2-BODY", expected: "h2 POST bodies streamed upstream (CL or chunked); >100 fields 431", result: "pass" });
});

test("HTTP/2: a session with no open stream is closed after timeouts.idle", async () => {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: CA, servername: "a.switchyard.test" });
  session.on("error", () => {});
  await new Promise<void>((resolve) => {
    const req = session.request({ ":path": "/", ":authority": "a.switchyard.test" });
    req.on("data", () => {});
    req.on("end", () => resolve());
    req.end();
  });
  const t0 = Date.now();
  const closedAfter = await new Promise<number>((resolve) => {
    session.once("close", () => resolve(Date.now() - t0));
    setTimeout(() => { session.destroy(); resolve(-1); }, 8000);
  });
  assert.ok(closedAfter >= 2500 && closedAfter < 6000, `closed after ${closedAfter} ms (idle 3 s)`);
});
