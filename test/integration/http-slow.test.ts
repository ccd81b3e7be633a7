// hardening.md section 2 (S01-S11): slow clients and resource exhaustion. The load cases run the proxy
// as a child process (`node src/main.ts`), so its RSS and fd counts are its own.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import http from "node:http";
import { freePort, sleep, waitFor, startOrigin, type Origin } from "../support/net.ts";
import { startProxy, type TestProxy } from "../support/proxy.ts";
import { raw, statusOf, recordRows, percentile, startChildProxy, type CaseRow, type ChildProxy } from "./http-helpers.ts";

const rows: CaseRow[] = [];
const MB = 1024 * 1024;
let web: Origin;
let big: http.Server;
let bigPort = 0;
/** Bytes the /big origin managed to write (it stops when write() says wait). */
let bigWritten = 0;
let bigClosed = 0;
let sink: http.Server;
let sinkPort = 0;
let sinkRead = 0;
let sinkAborted = 0;
let proxy: TestProxy;
let port = 0;
let child: ChildProxy;
let childPort = 0;

before(async () => {
  web = await startOrigin("web");
  big = http.createServer((req, res) => {
    const total = 200 * MB;
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    let sent = 0;
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(total) });
    res.on("close", () => { bigClosed++; });
    const pump = (): void => {
      while (sent < total && !res.destroyed) {
        sent += chunk.length;
        bigWritten += chunk.length;
        if (!res.write(chunk)) { res.once("drain", pump); return; }
      }
      if (sent >= total) res.end();
    };
    void req;
    pump();
  });
  await new Promise<void>((r) => big.listen(0, "127.0.0.1", () => r()));
  const ba = big.address();
  bigPort = ba !== null && typeof ba === "object" ? ba.port : 0;
  // reads request bodies at about 1 MiB/s
  sink = http.createServer((req, res) => {
    const t0 = Date.now();
    let got = 0;
    req.on("data", (d: Buffer) => {
      got += d.length;
      sinkRead += d.length;
      const ahead = got - ((Date.now() - t0) / 1000) * MB;
      if (ahead > 0) { req.pause(); setTimeout(() => req.resume(), (ahead / MB) * 1000); }
    });
    req.on("aborted", () => { sinkAborted++; });
    req.on("end", () => res.end(`read ${got}`));
  });
  await new Promise<void>((r) => sink.listen(0, "127.0.0.1", () => r()));
  const sa = sink.address();
  sinkPort = sa !== null && typeof sa === "object" ? sa.port : 0;

  port = await freePort();
  proxy = await startProxy(`
log: { level: info }
upstreams:
  web: { scheduler: rr, servers: [ { address: ${web.address} } ] }
  sink: { scheduler: rr, servers: [ { address: 127.0.0.1:${sinkPort} } ] }
listeners:
  - name: front
    protocol: http
    listen: 127.0.0.1:${port}
    timeouts: { header: 2s, idle: 1500ms, body: 2s, send: 2s, upstream_response: 5s }
    limits: { max_body_size: 1mb, max_headers: 100 }
    routes:
      - { match: { path_prefix: /sink }, upstream: sink }
      - upstream: web
`);
  childPort = await freePort();
  child = await startChildProxy(`
log: { level: warn, access: false }
upstreams:
  web: { scheduler: rr, servers: [ { address: ${web.address} } ] }
  big: { scheduler: rr, servers: [ { address: 127.0.0.1:${bigPort} } ] }
  sink: { scheduler: rr, servers: [ { address: 127.0.0.1:${sinkPort} } ] }
listeners:
  - name: front
    protocol: http
    listen: 127.0.0.1:${childPort}
    timeouts: { header: 3s, idle: 5s, body: 5s, send: 3s, upstream_response: 10s }
    limits: { max_connections: 2500, max_body_size: 0 }
    routes:
      - { match: { path_prefix: /big }, upstream: big }
      - { match: { path_prefix: /sink }, upstream: sink }
      - upstream: web
`, childPort, ["--max-semi-space-size=2"]); // a small young generation: RSS readings vary little with GC timing
});

after(async () => {
  await child?.stop();
  await proxy?.stop();
  await web?.close();
  for (const s of [big, sink]) { s?.closeAllConnections(); await new Promise<void>((r) => s?.close(() => r())); }
  recordRows("slow", rows);
});

function get(p: number, path: string): Promise<{ status: number; ms: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.request({ host: "127.0.0.1", port: p, path, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
    });
    req.on("error", () => resolve({ status: -1, ms: performance.now() - t0 }));
    req.setTimeout(5000, () => req.destroy());
    req.end();
  });
}

test("S01: a client sending one header line per second, never finishing, gets 408 within header timeout + 1 s", async () => {
  const t0 = Date.now();
  const r = await new Promise<{ text: string; ms: number }>((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    let text = "";
    let i = 0;
    const tick = setInterval(() => { if (!s.destroyed) s.write(`X-Slow-${i++}: ${i}\r\n`); }, 1000);
    s.on("connect", () => s.write("GET / HTTP/1.1\r\nHost: a\r\n"));
    s.on("data", (d) => { text += d.toString(); });
    s.on("error", () => {});
    s.on("close", () => { clearInterval(tick); resolve({ text, ms: Date.now() - t0 }); });
    setTimeout(() => s.destroy(), 8000);
  });
  assert.match(r.text, /^HTTP\/1\.1 408/);
  assert.ok(r.ms < 3000, `closed after ${r.ms} ms (header timeout 2 s)`);
  rows.push({ id: "S01", expected: "slowloris line/s: 408 or close within header_timeout + 1 s", result: `pass: 408 + close after ${r.ms} ms (header 2 s)` });
});

/** The slowloris attacker, in its own process so the measuring client does not share its event loop. */
const LORIS = `
const net = require("node:net");
const [port, target] = process.argv.slice(1).map(Number);
const open = new Set(); let opened = 0, cut = 0, stop = false, peak = 0;
function one() {
  if (stop) return;
  const s = net.connect(port, "127.0.0.1"); opened++; open.add(s);
  s.on("connect", () => s.write("GET / HTTP/1.1\\r\\nHost: a\\r\\nUser-Agent: loris\\r\\n"));
  s.on("error", () => {});
  s.on("close", () => { open.delete(s); cut++; if (!stop) setTimeout(one, 5 + Math.random() * 200); });
}
(async () => {
  for (let i = 0; i < target; i++) { one(); if (i % 200 === 199) await new Promise((r) => setTimeout(r, 50)); }
  setInterval(() => { peak = Math.max(peak, open.size); for (const s of open) if (!s.destroyed && !s.connecting) s.write("X-a: b\\r\\n"); }, 1000);
  process.on("message", () => { stop = true; for (const s of open) s.destroy(); process.send({ opened, cut, peak }); setTimeout(() => process.exit(0), 100); });
  process.send("ready");
})();
`;

test("S02: 2000 slowloris connections while legitimate GETs at 20/s keep p99 under 200 ms; fds bounded", { timeout: 90_000 }, async () => {
  const { fork } = await import("node:child_process");
  const loris = fork("-e", [LORIS, String(childPort), "2000"], { execArgv: [], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const stats = new Promise<{ opened: number; cut: number; peak: number }>((resolve) => loris.on("message", (m) => { if (typeof m === "object") resolve(m as { opened: number; cut: number; peak: number }); }));
  await new Promise<void>((resolve) => loris.once("message", () => resolve()));
  await sleep(1500);
  const lat: number[] = [];
  let failed = 0;
  let maxFds = 0;
  const t0 = Date.now();
  const pending: Promise<void>[] = [];
  while (Date.now() - t0 < 10_000) {
    pending.push(get(childPort, "/legit").then((r) => { if (r.status === 200) lat.push(r.ms); else failed++; }));
    maxFds = Math.max(maxFds, child.fds());
    await sleep(50);
  }
  await Promise.all(pending);
  loris.send("stop");
  const st = await stats;
  const p99 = percentile(lat, 99);
  const p50 = percentile(lat, 50);
  assert.equal(failed, 0, `${failed} legitimate requests failed`);
  assert.ok(lat.length >= 150, `${lat.length} legitimate requests`);
  assert.ok(st.peak >= 1900, `slowloris connections held open: ${st.peak}`);
  assert.ok(maxFds > 1900, `the proxy really held them: ${maxFds} fds`);
  assert.ok(maxFds < 2500 + 100, `proxy fds peaked at ${maxFds} (max_connections 2500)`);
  assert.ok(p99 < 200, `p99 ${p99.toFixed(1)} ms; slowest ${[...lat].sort((a, b) => b - a).slice(0, 5).map((x) => x.toFixed(0)).join(",")}`);
  rows.push({ id: "S02", expected: "2000 slowloris + 20 rps legit: 100% 200, p99 < 200 ms, fds bounded", result: `pass: ${lat.length}/${lat.length} 200, p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms; ${st.peak} loris open at peak (${st.opened} opened, ${st.cut} cut by the 3 s header timeout); proxy fds <= ${maxFds}` });
});

test("S03: a body at 1 byte/s gets 408 and a close; the upstream request is aborted", async () => {
  const aborted0 = sinkAborted;
  const t0 = Date.now();
  const r = await new Promise<{ text: string; ms: number }>((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    let text = "";
    const tick = setInterval(() => { if (!s.destroyed) s.write("x"); }, 1000);
    s.on("connect", () => s.write("POST /sink/slow HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\nx"));
    s.on("data", (d) => { text += d.toString(); });
    s.on("error", () => {});
    s.on("close", () => { clearInterval(tick); resolve({ text, ms: Date.now() - t0 }); });
    setTimeout(() => s.destroy(), 10_000);
  });
  assert.match(r.text, /^HTTP\/1\.1 408/);
  assert.match(r.text, /x-switchyard-error: body-timeout/);
  assert.ok(r.ms < 5000, `closed after ${r.ms} ms (body 2 s)`);
  assert.ok(await waitFor(() => sinkAborted > aborted0, 2000), "the upstream saw its request aborted");
  rows.push({ id: "S03", expected: "body at 1 B/s: 408 + close; upstream aborted", result: `pass: 408 after ${r.ms} ms (body 2 s, min rate 1 KiB/s); upstream request aborted` });
});

test("S04: a 200 MB response to a client reading 10 KB/s: proxy RSS grows < 64 MB, the origin is held back", { timeout: 60_000 }, async () => {
  const rss0 = child.rss();
  bigWritten = 0;
  let read = 0;
  let maxRss = rss0;
  const s = net.connect(childPort, "127.0.0.1");
  s.on("error", () => {});
  s.on("connect", () => s.write("GET /big HTTP/1.1\r\nHost: a\r\n\r\n"));
  s.pause();
  const reader = setInterval(() => {
    let c: Buffer | null;
    let budget = 1024; // 10 KB/s in 100 ms steps
    while (budget > 0 && (c = s.read(Math.min(budget, s.readableLength || budget)) as Buffer | null) !== null) { read += c.length; budget -= c.length; }
    maxRss = Math.max(maxRss, child.rss());
  }, 100);
  await sleep(15_000);
  clearInterval(reader);
  const grew = (maxRss - rss0) / MB;
  const originMb = bigWritten / MB;
  s.destroy();
  assert.ok(read > 100 * 1024, `the client read ${read} bytes`);
  assert.ok(grew < 64, `proxy RSS grew ${grew.toFixed(1)} MB`);
  assert.ok(originMb < 64, `the origin pushed ${originMb.toFixed(1)} MB in 15 s: backpressure must hold it`);
  rows.push({ id: "S04", expected: "200 MB to a 10 KB/s reader: proxy RSS growth < 64 MB, upstream paused", result: `pass: 15 s bounded run, client read ${(read / 1024).toFixed(0)} KB, origin wrote ${originMb.toFixed(1)} MB of 200 (kernel buffers), proxy RSS +${grew.toFixed(1)} MB` });
});

test("S05: a client that never reads is dropped after the send timeout; the upstream is freed", { timeout: 30_000 }, async () => {
  await sleep(500);
  const fds0 = child.fds();
  const closed0 = bigClosed;
  const s = net.connect(childPort, "127.0.0.1");
  s.on("error", () => {});
  s.on("connect", () => s.write("GET /big HTTP/1.1\r\nHost: a\r\n\r\n"));
  s.pause();
  const t0 = Date.now();
  assert.ok(await waitFor(() => bigClosed > closed0, 15_000), "the upstream response was abandoned");
  const ms = Date.now() - t0;
  assert.ok(await waitFor(() => child.fds() <= fds0, 3000), `proxy fds ${child.fds()} vs ${fds0}`);
  s.destroy();
  rows.push({ id: "S05", expected: "client never reads: closed after send_timeout; upstream freed", result: `pass: upstream freed ${ms} ms after the request (send 3 s, after kernel buffers filled); fds back to ${child.fds()}` });
});

test("S06: a large upload to a backend reading 1 MiB/s: proxy RSS bounded, the client slowed by TCP", { timeout: 60_000 }, async () => {
  const rss0 = child.rss();
  const read0 = sinkRead;
  let wrote = 0;
  let maxRss = rss0;
  const s = net.connect(childPort, "127.0.0.1");
  s.on("error", () => {});
  const chunk = Buffer.alloc(256 * 1024, 0x75);
  let stop = false;
  const pump = (): void => {
    while (!stop && !s.destroyed) {
      wrote += chunk.length;
      if (!s.write(chunk)) { s.once("drain", pump); return; }
    }
  };
  s.on("connect", () => { s.write(`POST /sink/up HTTP/1.1\r\nHost: a\r\nContent-Length: ${1024 * MB}\r\n\r\n`); pump(); });
  const sampler = setInterval(() => { maxRss = Math.max(maxRss, child.rss()); }, 100);
  await sleep(10_000);
  stop = true;
  clearInterval(sampler);
  s.destroy();
  const grew = (maxRss - rss0) / MB;
  const readMb = (sinkRead - read0) / MB;
  assert.ok(grew < 64, `proxy RSS grew ${grew.toFixed(1)} MB`);
  assert.ok(wrote / MB < readMb + 64, `client pushed ${(wrote / MB).toFixed(1)} MB while the backend read ${readMb.toFixed(1)} MB`);
  rows.push({ id: "S06", expected: "1 GiB upload, backend 1 MiB/s: RSS bounded, client slowed by TCP", result: `pass: 10 s bounded run, backend read ${readMb.toFixed(1)} MB, client could push ${(wrote / MB).toFixed(1)} MB, proxy RSS +${grew.toFixed(1)} MB` });
});

test("S07: a body over limits.max_body_size: 413 before reading (Content-Length), 413 + close midway (chunked), upstream aborted", async () => {
  const r = await raw(port, "POST /sink/x HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n", { timeoutMs: 2000 });
  assert.equal(statusOf(r.responses[0]), 413);
  assert.ok(r.closed);
  const aborted0 = sinkAborted;
  const chunk = `${(256 * 1024).toString(16)}\r\n${"z".repeat(256 * 1024)}\r\n`;
  const c = await raw(port, ["POST /sink/chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", chunk, chunk, chunk, chunk, chunk], { timeoutMs: 3000 });
  assert.equal(statusOf(c.responses[0]), 413);
  assert.ok(c.closed);
  assert.ok(await waitFor(() => sinkAborted > aborted0, 2000), "the backend never sees the partial body as complete");
  rows.push({ id: "S07", expected: "over the limit: 413 before body (CL); 413+close midway (chunked); upstream aborted", result: "pass" });
});

test("S08: a 17 KiB header, 200 headers, 10 000 headers: 431", async () => {
  for (const p of [
    "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + "a".repeat(17 * 1024) + "\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\n" + "x:y\r\n".repeat(200) + "\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\n" + "x:y\r\n".repeat(10_000) + "\r\n",
  ]) {
    const r = await raw(port, p, { timeoutMs: 2000 });
    assert.equal(statusOf(r.responses[0]), 431);
    assert.ok(r.closed);
  }
  rows.push({ id: "S08", expected: "17 KiB header / 200 / 10 000 headers: 431 (limit documented)", result: "pass: 431 x3 (max_header_size 16 KiB, max_headers 100)" });
});

test("S09: an idle keep-alive connection gets a FIN after timeouts.idle; a request just before it is answered", async () => {
  const r = await new Promise<{ ended: boolean; reset: boolean; ms: number; answers: number }>((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    let answers = 0;
    let ended = false;
    let reset = false;
    let t0 = 0;
    s.on("data", (d) => {
      answers += (d.toString().match(/HTTP\/1\.1 200/g) ?? []).length;
      t0 = Date.now();
      if (answers === 1) setTimeout(() => s.write("GET /second HTTP/1.1\r\nHost: a\r\n\r\n"), 1300);
    });
    s.on("end", () => { ended = true; });
    s.on("error", () => { reset = true; });
    s.on("close", () => resolve({ ended, reset, ms: Date.now() - t0, answers }));
    s.write("GET /first HTTP/1.1\r\nHost: a\r\n\r\n");
    setTimeout(() => s.destroy(), 8000);
  });
  assert.equal(r.answers, 2, "the request sent 200 ms before the idle limit was answered");
  assert.ok(r.ended && !r.reset, "closed with a FIN, not a reset");
  assert.ok(r.ms >= 1300 && r.ms < 3000, `closed ${r.ms} ms after the last answer (idle 1.5 s)`);
  rows.push({ id: "S09", expected: "keep-alive idle: FIN while idle; request with bytes arrived never RST", result: `pass: FIN ${r.ms} ms after the last answer (idle 1.5 s)` });
});

test("S10: 10 000 connects that send nothing (the proxy limited to 4096 fds): no crash; a client is served once they go", { timeout: 90_000 }, async () => {
  const p = await freePort();
  const c = await startChildProxy(`
log: { level: warn, access: false }
upstreams:
  web: { scheduler: rr, servers: [ { address: ${web.address} } ] }
listeners:
  - { name: front, protocol: http, listen: 127.0.0.1:${p}, upstream: web, timeouts: { header: 3s }, limits: { max_connections: 20000 } }
`, p, [], 4096);
  try {
    const socks: net.Socket[] = [];
    for (let i = 0; i < 10_000; i++) {
      const s = net.connect(p, "127.0.0.1");
      s.on("error", () => {});
      socks.push(s);
      if (i % 500 === 499) await sleep(30);
    }
    await sleep(1500);
    assert.equal(c.proc.exitCode, null, `proxy exited: ${c.output.join("")}`);
    const peak = c.fds();
    for (const s of socks) s.destroy();
    let served = false;
    const t0 = Date.now();
    while (!served && Date.now() - t0 < 10_000) {
      served = (await get(p, "/after")).status === 200;
      if (!served) await sleep(200);
    }
    assert.ok(served, "a legitimate client is served");
    assert.equal(c.proc.exitCode, null);
    rows.push({ id: "S10", expected: "10 000 idle connects: proxy alive, later client served, no EMFILE crash", result: `pass: fd limit 4096, peak ${peak} fds, alive; served ${Date.now() - t0} ms after the connects were dropped` });
  } finally { await c.stop(); }
});

test("S11: 1000 clients aborting mid-request and mid-response: fds back to baseline within 5 s, RSS back or not growing round after round", { timeout: 60_000 }, async () => {
  const round = async (): Promise<void> => {
    for (let b = 0; b < 10; b++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => new Promise<void>((resolve) => {
        const s = net.connect(childPort, "127.0.0.1");
        s.on("error", () => {});
        s.on("close", () => resolve());
        if (i % 2 === 0) s.write("POST /sink/abort HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\npartial", () => setTimeout(() => s.destroy(), 10));
        else { s.write("GET /big HTTP/1.1\r\nHost: a\r\n\r\n"); s.once("data", () => s.destroy()); }
      })));
    }
  };
  // warm-up rounds: code paths compiled, heap grown to its working size. RSS between rounds moves with GC
  // timing (observed 195-228 MB, no trend), so the baseline is the band the warmed-up process settles in.
  const settled: number[] = [];
  for (let i = 0; i < 3; i++) { await round(); await sleep(1500); settled.push(child.rss()); }
  const fd0 = child.fds();
  const rss0 = Math.max(...settled);
  await round();
  const t0 = Date.now();
  const fdsOk = await waitFor(() => child.fds() <= Math.max(fd0 * 1.05, fd0 + 2), 5000);
  const fdMs = Date.now() - t0;
  // RSS: back within 10 % of the warmed-up band, or else no growth over three more rounds. The burst grows
  // V8's heap and malloc's arenas; V8 gives pages back only when its memory reducer runs, and the process
  // sometimes settles on a higher plateau (read 1.2-1.5x the band for 15 s, in 1 of 3 runs, with and
  // without the issue-11 changes). A leak is what grows with every round of aborts: that fails here.
  let rssOk = await waitFor(() => child.rss() <= rss0 * 1.10, 8_000);
  let plateau = "";
  if (!rssOk) {
    const after1 = child.rss();
    for (let i = 0; i < 3; i++) await round();
    await sleep(1500);
    rssOk = await waitFor(() => child.rss() <= Math.max(after1, rss0) * 1.10, 8_000);
    plateau = `; settled on a plateau of ${(after1 / MB).toFixed(1)} MB that 3 more rounds did not raise`;
  }
  const ms = Date.now() - t0;
  assert.ok(fdsOk, `fds ${child.fds()} vs baseline ${fd0}`);
  assert.ok(rssOk, `RSS ${(child.rss() / MB).toFixed(1)} MB vs baseline band ${(rss0 / MB).toFixed(1)} MB: it grows with every round of aborts`);
  rows.push({ id: "S11", expected: "1000 aborts: fds back to baseline +-5 % within 5 s; RSS back to the warmed-up band +10 %, or not growing over 3 more rounds", result: `pass: fds ${child.fds()} (baseline ${fd0}) within ${fdMs} ms, RSS ${(child.rss() / MB).toFixed(1)} MB (warmed-up band up to ${(rss0 / MB).toFixed(1)} MB${plateau}) within ${ms} ms` });
});
