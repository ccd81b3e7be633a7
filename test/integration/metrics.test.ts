// /metrics end to end: the page parses with a strict Prometheus text parser, and every counter moves
// by exactly the work sent (HTTP requests by status class, latency histogram, per-server requests,
// refusals, bytes on the wire, TCP sessions), state changes show at once, and snapshots merge the
// way the supervisor will merge its workers' (counters sum).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { Agent, request } from "undici";
import { startOrigin, freePort, waitFor, type Origin } from "../support/net.ts";
import { startProxy, type TestProxy } from "../support/proxy.ts";
import { parsePrometheusText, sampleValue, sumValues, type Family } from "../support/prom-text.ts";
import { renderMetrics, RuntimeMetrics } from "../../src/observability/metrics.ts";

let a: Origin, b: Origin;
let echo: net.Server;
let echoPort = 0;
let proxy: TestProxy;
let httpPort = 0;
let tcpPort = 0;
let admin = "";

before(async () => {
  a = await startOrigin("a");
  b = await startOrigin("b");
  echo = net.createServer((s) => { s.on("data", (d) => s.write(d)); s.on("end", () => s.end()); s.on("error", () => {}); });
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", () => r()));
  echoPort = (echo.address() as net.AddressInfo).port;
  httpPort = await freePort();
  tcpPort = await freePort();
  proxy = await startProxy(`
log: { level: info, access: false }
admin: { listen: 127.0.0.1:0 }
upstreams:
  web:  { scheduler: rr, servers: [ { address: ${a.address} }, { address: ${b.address} } ] }
  none: { scheduler: rr, servers: [ { address: ${a.address}, weight: 0 } ] }
  echo: { scheduler: wlc, servers: [ { address: 127.0.0.1:${echoPort} } ] }
listeners:
  - name: public
    protocol: http
    listen: 127.0.0.1:${httpPort}
    routes:
      - { match: { path_prefix: /none }, upstream: none }
      - upstream: web
  - { name: raw, protocol: tcp, listen: 127.0.0.1:${tcpPort}, upstream: echo }
`);
  admin = `http://127.0.0.1:${proxy.adminPort()}`;
});

after(async () => {
  await proxy.stop();
  await a.close();
  await b.close();
  await new Promise<void>((r) => echo.close(() => r()));
});

async function scrape(): Promise<Map<string, Family>> {
  const r = await request(`${admin}/metrics`);
  assert.equal(r.statusCode, 200);
  assert.match(String(r.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await r.body.text());
}

const L = { listener: "public" };

test("the page parses strictly and has the listener, server and process families", async () => {
  const m = await scrape();
  for (const name of [
    "switchyard_listener_connections_total", "switchyard_listener_requests_total", "switchyard_listener_request_duration_seconds",
    "switchyard_listener_received_bytes_total", "switchyard_listener_sent_bytes_total", "switchyard_listener_connections_open",
    "switchyard_server_state", "switchyard_server_weight", "switchyard_server_active", "switchyard_server_requests_total",
    "switchyard_server_failures_total", "switchyard_server_ejections_total", "switchyard_upstream_retries_total",
    "nodejs_eventloop_lag_seconds", "process_resident_memory_bytes", "nodejs_active_handles",
  ]) assert.ok(m.has(name), `family ${name}`);
  assert.equal(m.get("switchyard_listener_request_duration_seconds")?.type, "histogram");
  assert.equal(m.get("switchyard_listener_requests_total")?.type, "counter");
  assert.equal(sampleValue(m, "switchyard_server_state", { upstream: "web", server: a.address, state: "up" }), 1);
  assert.equal(sampleValue(m, "switchyard_listener_info", { listener: "raw" }), 1);
});

test("HTTP counters move by exactly the number of requests sent", async () => {
  const N = 37;
  const before = await scrape();
  const agent = new Agent({ connections: 1 });
  for (let i = 0; i < N; i++) {
    const r = await request(`http://127.0.0.1:${httpPort}/item/${i}`, { dispatcher: agent });
    assert.equal(r.statusCode, 200);
    await r.body.text();
  }
  const busy = await scrape();
  await agent.close();
  assert.ok(await waitFor(async () => sampleValue(await scrape(), "switchyard_listener_connections_open", L) === 0));
  const ok = await scrape();
  // refusals: a 503 answer closes its connection, so these use their own client
  const K = 5;
  const agent2 = new Agent({ connections: 1 });
  for (let i = 0; i < K; i++) {
    const r = await request(`http://127.0.0.1:${httpPort}/none`, { dispatcher: agent2 });
    assert.equal(r.statusCode, 503);
    await r.body.text();
  }
  await agent2.close();
  const end = await scrape();
  const d = (m: Map<string, Family>, name: string, labels = {}): number => sumValues(m, name, labels) - sumValues(before, name, labels);
  assert.equal(d(ok, "switchyard_listener_requests_total", { ...L, class: "2xx" }), N);
  assert.equal(d(ok, "switchyard_listener_requests_total", L), N);
  assert.equal(d(ok, "switchyard_listener_request_duration_seconds_count", L), N);
  assert.equal(d(ok, "switchyard_listener_request_duration_seconds_bucket", { ...L, le: "+Inf" }), N);
  assert.ok(d(ok, "switchyard_listener_request_duration_seconds_sum", L) > 0);
  // rr over two servers: 37 requests split 19/18 (or 18/19), each counted once
  const da = d(ok, "switchyard_server_requests_total", { upstream: "web", server: a.address });
  const db = d(ok, "switchyard_server_requests_total", { upstream: "web", server: b.address });
  assert.equal(da + db, N);
  assert.ok(Math.abs(da - db) <= 1, `rr split ${da}/${db}`);
  // one client connection carried all of them; closing it ended one session
  assert.equal(sampleValue(busy, "switchyard_listener_connections_open", L), 1);
  assert.equal(d(ok, "switchyard_listener_connections_total", L), 1);
  assert.equal(d(ok, "switchyard_listener_session_duration_seconds_count", L), 1);
  // the refusals: 5xx by exactly K, refusals by K, no server work
  assert.equal(d(end, "switchyard_listener_requests_total", { ...L, class: "5xx" }), K);
  assert.equal(d(end, "switchyard_listener_requests_total", { ...L, class: "2xx" }), N);
  assert.equal(d(end, "switchyard_listener_requests_total", L), N + K);
  assert.equal(d(end, "switchyard_upstream_refusals_total", { upstream: "none" }), K);
  assert.equal(d(end, "switchyard_server_requests_total", { upstream: "none" }), 0);
});

test("bytes on the wire are counted exactly, while open and after close", async () => {
  const before = await scrape();
  const req = Buffer.from(`GET /bytes HTTP/1.1\r\nHost: example.test\r\nX-Pad: ${"p".repeat(100)}\r\n\r\n`);
  const sock = net.connect(httpPort, "127.0.0.1");
  await new Promise<void>((r) => sock.once("connect", () => r()));
  let got = 0;
  sock.on("data", (c: Buffer) => { got += c.length; });
  sock.write(req);
  assert.ok(await waitFor(() => got > 0));
  // the response is small and written at once; wait for it whole (Content-Length body "a" or "b")
  assert.ok(await waitFor(async () => {
    const m = await scrape();
    return sumValues(m, "switchyard_listener_sent_bytes_total", L) - sumValues(before, "switchyard_listener_sent_bytes_total", L) === got && got > 0;
  }));
  const open = await scrape();
  assert.equal(sumValues(open, "switchyard_listener_received_bytes_total", L) - sumValues(before, "switchyard_listener_received_bytes_total", L), req.length);
  sock.end();
  await new Promise<void>((r) => sock.once("close", () => r()));
  assert.ok(await waitFor(async () => sampleValue(await scrape(), "switchyard_listener_connections_open", L) === 0));
  const closed = await scrape();
  assert.equal(sumValues(closed, "switchyard_listener_received_bytes_total", L) - sumValues(before, "switchyard_listener_received_bytes_total", L), req.length);
  assert.equal(sumValues(closed, "switchyard_listener_sent_bytes_total", L) - sumValues(before, "switchyard_listener_sent_bytes_total", L), got);
});

test("TCP sessions: connections, session histogram, bytes and server requests move exactly", async () => {
  const R = { listener: "raw" };
  const before = await scrape();
  const M = 7;
  const payload = Buffer.alloc(1000, 0x61);
  for (let i = 0; i < M; i++) {
    const s = net.connect(tcpPort, "127.0.0.1");
    let n = 0;
    await new Promise<void>((resolve, reject) => {
      s.on("error", reject);
      s.on("data", (c: Buffer) => { n += c.length; if (n === payload.length) s.end(); });
      s.on("close", () => resolve());
      s.write(payload);
    });
    assert.equal(n, payload.length);
  }
  assert.ok(await waitFor(async () => sampleValue(await scrape(), "switchyard_listener_connections_open", R) === 0));
  assert.ok(await waitFor(async () => sampleValue(await scrape(), "switchyard_server_active", { upstream: "echo" }) === 0));
  const end = await scrape();
  const d = (name: string, labels = {}): number => sumValues(end, name, labels) - sumValues(before, name, labels);
  assert.equal(d("switchyard_listener_connections_total", R), M);
  assert.equal(d("switchyard_listener_session_duration_seconds_count", R), M);
  assert.equal(d("switchyard_listener_received_bytes_total", R), M * payload.length);
  assert.equal(d("switchyard_listener_sent_bytes_total", R), M * payload.length);
  assert.equal(d("switchyard_server_requests_total", { upstream: "echo" }), M);
  // a TCP listener has no HTTP request series
  assert.equal(sumValues(end, "switchyard_listener_requests_total", R), 0);
});

test("an admin change shows in /metrics at once", async () => {
  const post = async (body: unknown): Promise<number> => {
    const r = await request(`${admin}/api/upstreams/web/servers/${encodeURIComponent(b.address)}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    await r.body.text();
    return r.statusCode;
  };
  assert.equal(await post({ state: "drain", weight: 7 }), 200);
  let m = await scrape();
  assert.equal(sampleValue(m, "switchyard_server_state", { upstream: "web", server: b.address, state: "drain" }), 1);
  assert.equal(sampleValue(m, "switchyard_server_state", { upstream: "web", server: b.address, state: "up" }), 0);
  assert.equal(sampleValue(m, "switchyard_server_weight", { upstream: "web", server: b.address }), 7);
  assert.equal(sampleValue(m, "switchyard_server_effective_weight", { upstream: "web", server: b.address }), 0);
  assert.equal(sampleValue(m, "switchyard_upstream_eligible_servers", { upstream: "web" }), 1);
  assert.equal(await post({ state: "up", weight: 1 }), 200);
  m = await scrape();
  assert.equal(sampleValue(m, "switchyard_server_state", { upstream: "web", server: b.address, state: "up" }), 1);
  assert.equal(sampleValue(m, "switchyard_server_effective_weight", { upstream: "web", server: b.address }), 1);
});

test("snapshots merge like workers': counters and histograms sum, configuration is taken once", async () => {
  const snap = await new RuntimeMetrics(proxy.rt).snapshot();
  const one = parsePrometheusText(await renderMetrics([snap]));
  const two = parsePrometheusText(await renderMetrics([snap, snap]));
  const req = { ...L, class: "2xx" };
  assert.ok(sampleValue(one, "switchyard_listener_requests_total", req) > 0);
  assert.equal(sampleValue(two, "switchyard_listener_requests_total", req), 2 * sampleValue(one, "switchyard_listener_requests_total", req));
  assert.equal(sampleValue(two, "switchyard_listener_request_duration_seconds_count", L), 2 * sampleValue(one, "switchyard_listener_request_duration_seconds_count", L));
  const w = { upstream: "web", server: a.address };
  assert.equal(sampleValue(two, "switchyard_server_weight", w), sampleValue(one, "switchyard_server_weight", w));
  assert.equal(sampleValue(two, "switchyard_server_state", { ...w, state: "up" }), 1);
});

test("the parser is strict: malformed pages are rejected", () => {
  const ok = "# HELP x_total X.\n# TYPE x_total counter\nx_total{a=\"1\"} 3\n";
  assert.equal(sampleValue(parsePrometheusText(ok), "x_total", { a: "1" }), 3);
  const bad = [
    "x_total 1",                                                                  // no final newline
    "# TYPE x counter\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n",                              // duplicate series
    "# TYPE x counter\nx -1\n",                                                   // negative counter
    "# TYPE x gauge\nx{a=\"\\t\"} 1\n",                                            // bad escape
    "# TYPE x gauge\nx{a=1} 1\n",                                                 // unquoted value
    "# TYPE x gauge\nx one\n",                                                    // bad value
    "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", // not cumulative
    "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",              // no +Inf
    "# TYPE x gauge\nx 1\n# TYPE y gauge\ny 1\nx{b=\"2\"} 1\n",                    // not contiguous
    "# TYPE x gauge\n# TYPE x counter\nx 1\n",                                    // second TYPE
    "# TYPE x counter\nx_other 1\n# TYPE x_other gauge\n",                        // TYPE after samples
  ];
  for (const text of bad) assert.throws(() => parsePrometheusText(text), Error, JSON.stringify(text));
});
