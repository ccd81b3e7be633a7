// load.ts + plan.ts: every example in docs/config.md is accepted and becomes the plan it describes;
// the demo config that `npm start` runs is valid; defaults fill everything left out.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { formatError, loadConfig, loadConfigText } from "../../../src/config/load.ts";
import type { RuntimePlan } from "../../../src/config/schema.ts";
import { PROTOCOL_KEYS } from "../../../src/config/validate-listener.ts";
import { getProtocol } from "../../../src/protocols/index.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;
const CONTRACT = `${ROOT}test/fixtures/conf/contract.yaml`;

async function planOf(file: string, env: Record<string, string> = {}): Promise<RuntimePlan> {
  const r = await loadConfig(file, env);
  assert.ok(r.ok, r.ok ? "" : r.errors.map(formatError).join("\n"));
  return r.plan;
}

function planText(text: string, env: Record<string, string> = {}): RuntimePlan {
  const r = loadConfigText(text, "t.yaml", env);
  assert.ok(r.ok, r.ok ? "" : r.errors.map(formatError).join("\n"));
  return r.plan;
}

const MIN = `upstreams:\n  web: { scheduler: rr, servers: [ 127.0.0.1:9001 ] }\nlisteners:\n  - { name: a, protocol: http, listen: 127.0.0.1:8080, upstream: web }\n`;

test("config.md's full example is accepted and planned as documented", async () => {
  const plan = await planOf(CONTRACT);
  assert.equal(plan.file, CONTRACT);
  assert.equal(plan.workers, 1);
  assert.equal(plan.shutdownTimeoutMs, 30_000);
  assert.equal(plan.pidFile, "/tmp/switchyard.pid");
  assert.deepEqual(plan.log, { level: "info", access: true, accessFormat: "json" });
  assert.deepEqual(plan.admin, { listen: { host: "127.0.0.1", port: 9090, text: "127.0.0.1:9090" }, token: null });
  assert.deepEqual([...plan.upstreams.keys()], ["web", "db", "cache", "mx", "api", "imapstore", "pop3store"]);

  const web = plan.upstreams.get("web");
  assert.ok(web);
  assert.equal(web.scheduler, "wlc");
  assert.deepEqual(
    { type: web.health.type, path: web.health.path, intervalMs: web.health.intervalMs, timeoutMs: web.health.timeoutMs, rise: web.health.rise, fall: web.health.fall, expect: [web.health.expectLow, web.health.expectHigh] },
    { type: "http", path: "/healthz", intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, expect: [200, 399] },
  );
  assert.deepEqual(web.passive, { maxFails: 3, failTimeoutMs: 10_000 });
  assert.equal(web.retries, 2);
  assert.equal(web.slowStartMs, 10_000);
  assert.deepEqual(web.sticky, { cookie: "SY" });
  assert.deepEqual(web.persistence, { timeoutMs: 300_000, netmask: 32, expireQuiescent: false });
  assert.deepEqual(web.servers.map((s) => [s.address, s.weight, s.maxConns, s.backup]), [
    ["127.0.0.1:9001", 3, 0, false], ["127.0.0.1:9002", 1, 100, false], ["127.0.0.1:9003", 1, 0, true],
  ]);

  const db = plan.upstreams.get("db");
  assert.equal(db?.health.type, "mysql");
  assert.equal(db?.health.user, "switchyard_check", "the ${CHECK_USER:-switchyard_check} default");
  assert.deepEqual(db?.servers.map((s) => s.address), ["127.0.0.1:3306", "127.0.0.1:3316"]);
  assert.equal(plan.upstreams.get("cache")?.scheduler, "sh");
  assert.equal(plan.upstreams.get("mx")?.health.type, "smtp");

  const api = plan.upstreams.get("api");
  assert.deepEqual(api?.servers, []);
  assert.deepEqual(api?.dnsServers, [
    { kind: "dns", name: "api.default.svc.cluster.local", port: 8080, weight: 1, maxConns: 0, backup: false },
    { kind: "srv", name: "_http._tcp.api.example.com", port: 0, weight: 1, maxConns: 0, backup: false },
  ]);
  assert.deepEqual(api?.resolver, { host: "127.0.0.53", port: 53, text: "127.0.0.53:53" });
  assert.equal(api?.resolveIntervalMs, 5000);
  assert.equal(plan.upstreams.get("imapstore")?.health.type, "imap");
  assert.equal(plan.upstreams.get("pop3store")?.health.type, "pop3");

  assert.deepEqual(plan.listeners.map((l) => [l.name, l.protocol, l.listen.text]), [
    ["public", "http", ":8080"], ["mysql", "mysql", "127.0.0.1:3307"], ["redis", "tcp", "127.0.0.1:6380"],
    ["smtp", "smtp", "127.0.0.1:2525"], ["imap", "imap", "127.0.0.1:1143"], ["pop3", "pop3", "127.0.0.1:1110"],
  ]);
  const pub = plan.listeners[0];
  assert.deepEqual(pub.listen, { host: "", port: 8080, text: ":8080" });
  assert.deepEqual(pub.routes, [
    { match: { host: "api.example.com", pathPrefix: "/v1/" }, upstream: "web", key: "header:x-user-id" },
    { match: { host: null, pathPrefix: null }, upstream: "web", key: null },
  ]);
  assert.deepEqual(pub.timeouts, { connectMs: 5000, headerMs: 30_000, idleMs: 60_000, upstreamResponseMs: 60_000, bodyMs: 60_000, sendMs: 60_000, tunnelMs: 3_600_000 });
  assert.deepEqual(pub.limits, { maxHeaderSize: 16_384, maxBodySize: 10_485_760, maxConnections: 10_000, maxHeaders: 100 });
  assert.deepEqual(plan.listeners[1].routes, [{ match: { host: null, pathPrefix: null }, upstream: "db", key: null }]);
  assert.equal(plan.listeners[2].proxyProtocol, "v2");
  assert.equal(plan.listeners[3].hostname, "mx.example.com");
  assert.equal(plan.listeners[3].xclient, true);
  assert.deepEqual(plan.demo, []);
});

test("config.md's example takes its ${...} values from the environment", async () => {
  const plan = await planOf(CONTRACT, { CHECK_USER: "probe", SWITCHYARD_ADMIN_TOKEN: "t0k3n" });
  assert.equal(plan.upstreams.get("db")?.health.user, "probe");
  assert.equal(plan.admin?.token, "t0k3n");
});

test("config.md's commented options are accepted: HTTPS, SNI certificates, STARTTLS and implicit TLS", () => {
  const dir = mkdtempSync(join(tmpdir(), "sy-conf-"));
  try {
    for (const f of ["cert.pem", "key.pem", "api.pem", "api-key.pem"]) writeFileSync(join(dir, f), "PEM\n");
    const text = `upstreams:
  web: { scheduler: rr, servers: [ 127.0.0.1:9001 ] }
  mail: { scheduler: dh, health: { type: imap }, servers: [ 127.0.0.1:1144 ] }
listeners:
  - { name: https, protocol: http, listen: :8443, upstream: web, tls: { cert: ${dir}/cert.pem, key: ${dir}/key.pem } }
  - name: sni
    protocol: http
    listen: :9443
    upstream: web
    tls:
      - { hosts: [ api.example.com, "*.api.example.com" ], cert: ${dir}/api.pem, key: ${dir}/api-key.pem }
      - { cert: ${dir}/cert.pem, key: ${dir}/key.pem }
  - { name: imap, protocol: imap, listen: 127.0.0.1:1143, upstream: mail, tls: { cert: ${dir}/cert.pem, key: ${dir}/key.pem } }
  - { name: imaps, protocol: imap, listen: 127.0.0.1:1993, upstream: mail, implicit_tls: true, tls: { cert: ${dir}/cert.pem, key: ${dir}/key.pem } }
`;
    const plan = planText(text);
    const [https, sni, imap, imaps] = plan.listeners;
    assert.deepEqual(https.tls, [{ hosts: [], cert: `${dir}/cert.pem`, key: `${dir}/key.pem` }]);
    assert.equal(https.implicitTls, true, "HTTPS starts TLS at connect");
    assert.deepEqual(sni.tls?.map((t) => t.hosts), [["api.example.com", "*.api.example.com"], []]);
    assert.equal(imap.implicitTls, false, "a mail listener with tls offers STARTTLS");
    assert.ok(imap.tls !== null);
    assert.equal(imaps.implicitTls, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("every scheduler, health type and log level named in config.md is accepted", () => {
  for (const s of ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh"]) {
    assert.equal(planText(MIN.replace("scheduler: rr", `scheduler: ${s}`)).upstreams.get("web")?.scheduler, s);
  }
  for (const h of ["none", "tcp", "http", "mysql", "smtp", "pop3", "imap"]) {
    assert.equal(planText(MIN.replace("scheduler: rr", `scheduler: rr, health: { type: ${h} }`)).upstreams.get("web")?.health.type, h);
  }
  for (const level of ["trace", "debug", "info", "warn", "error", "fatal", "silent"]) {
    assert.equal(planText(`log: { level: ${level}, access: false, access_format: combined }\n${MIN}`).log.level, level);
  }
});

test("workers: auto is one per CPU", () => {
  assert.equal(planText(`workers: auto\n${MIN}`).workers, availableParallelism());
  assert.equal(planText(`workers: 4\n${MIN}`).workers, 4);
});

test("the demo config that npm start runs is valid: http and tcp over three demo origins, admin on 9090", async () => {
  const plan = await planOf(`${ROOT}conf/switchyard.yaml`);
  assert.deepEqual(plan.demo.map((a) => a.text), ["127.0.0.1:9101", "127.0.0.1:9102", "127.0.0.1:9103"]);
  assert.equal(plan.admin?.listen.text, "127.0.0.1:9090");
  assert.deepEqual(plan.listeners.map((l) => [l.protocol, l.listen.text]), [["http", "127.0.0.1:8080"], ["tcp", "127.0.0.1:8081"]]);
  const pool = plan.upstreams.get(plan.listeners[0].routes[0].upstream);
  assert.ok(pool);
  assert.equal(plan.listeners[1].routes[0].upstream, pool.name, "both listeners balance over the same origins");
  assert.equal(pool.health.type, "http");
  assert.deepEqual(pool.servers.map((s) => s.address), plan.demo.map((a) => a.text));
});

test("defaults: a minimal file plans every field", () => {
  const plan = planText(MIN);
  assert.equal(plan.workers, 1);
  assert.equal(plan.watch, false);
  assert.equal(plan.shutdownTimeoutMs, 30_000);
  assert.equal(plan.pidFile, null);
  assert.deepEqual(plan.log, { level: "info", access: true, accessFormat: "json" });
  assert.equal(plan.admin, null);
  assert.deepEqual(plan.demo, []);
  assert.deepEqual(plan.upstreams.get("web"), {
    name: "web", scheduler: "rr", schedFlags: [],
    health: {
      type: "none", intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, method: "GET", path: "/", host: null,
      expectLow: 200, expectHigh: 399, body: null, user: null, password: null, helo: "switchyard", port: null,
    },
    passive: { maxFails: 3, failTimeoutMs: 10_000 }, retries: 2, slowStartMs: 0, sticky: null, persistence: null,
    inactiveLingerMs: 1000, connectTimeoutMs: 5000,
    servers: [{ address: "127.0.0.1:9001", host: "127.0.0.1", port: 9001, weight: 1, maxConns: 0, backup: false }],
    dnsServers: [], resolver: null, resolveIntervalMs: 30_000, tls: null,
  });
  assert.deepEqual(plan.listeners[0], {
    name: "a", protocol: "http", listen: { host: "127.0.0.1", port: 8080, text: "127.0.0.1:8080" },
    routes: [{ match: { host: null, pathPrefix: null }, upstream: "web", key: null }],
    proxyProtocol: null, tls: null, implicitTls: false,
    timeouts: { connectMs: 5000, headerMs: 30_000, idleMs: 60_000, upstreamResponseMs: 60_000, bodyMs: 60_000, sendMs: 60_000, tunnelMs: 3_600_000 },
    limits: { maxHeaderSize: 16_384, maxBodySize: 10_485_760, maxConnections: 10_000, maxHeaders: 100 },
    idleTimeoutMs: 600_000, hostname: hostname(), xclient: false, maxErrors: 5, authHttp: null,
  });
});

test("shorthands: health: TYPE, passive: false, sticky: true, persistence: true, tls: true, bare server addresses", () => {
  const plan = planText(`upstreams:
  web:
    scheduler: rr
    health: tcp
    passive: false
    sticky: true
    persistence: { netmask: 255.255.255.0, expire_quiescent: true }
    tls: true
    servers: [ 127.0.0.1:9001, "[::1]:9002" ]
listeners:
  - { name: a, protocol: http, listen: 127.0.0.1:8080, upstream: web }
`);
  const web = plan.upstreams.get("web");
  assert.equal(web?.health.type, "tcp");
  assert.equal(web?.passive.maxFails, 0, "passive: false turns passive health off");
  assert.deepEqual(web?.sticky, { cookie: "SY" });
  assert.deepEqual(web?.persistence, { timeoutMs: 300_000, netmask: 24, expireQuiescent: true });
  assert.deepEqual(web?.tls, { ca: null, servername: null, verify: true });
  assert.deepEqual(web?.servers.map((s) => [s.host, s.port]), [["127.0.0.1", 9001], ["::1", 9002]]);
});

test("http health options: method upper-cased, expect as a status, a range or 2xx", () => {
  const expectOf = (v: string): [number, number] => {
    const h = planText(MIN.replace("scheduler: rr", `scheduler: rr, health: { type: http, method: head, expect: ${v} }`)).upstreams.get("web")?.health;
    assert.equal(h?.method, "HEAD");
    return [h?.expectLow ?? 0, h?.expectHigh ?? 0];
  };
  assert.deepEqual(expectOf("204"), [204, 204]);
  assert.deepEqual(expectOf("200-299"), [200, 299]);
  assert.deepEqual(expectOf("3xx"), [300, 399]);
});

test("mail listener options plan as given", () => {
  const plan = planText(`upstreams:
  mx: { scheduler: dh, servers: [ 127.0.0.1:2526 ] }
listeners:
  - { name: smtp, protocol: smtp, listen: 127.0.0.1:2525, upstream: mx, key: rcpt_domain, hostname: mx.example.com,
      xclient: true, max_errors: 3, auth_http: "http://127.0.0.1:9000/auth", idle_timeout: 5m, proxy_protocol: v1,
      limits: { max_connections: 50 } }
`);
  const l = plan.listeners[0];
  assert.deepEqual(
    [l.routes[0].key, l.hostname, l.xclient, l.maxErrors, l.authHttp, l.idleTimeoutMs, l.proxyProtocol, l.limits.maxConnections],
    ["rcpt_domain", "mx.example.com", true, 3, "http://127.0.0.1:9000/auth", 300_000, "v1", 50],
  );
});

test("formatError: FILE:LINE:COLUMN: path.to.key: message", () => {
  assert.equal(formatError({ file: "f.yaml", path: "upstreams.web.servers[0].weight", line: 12, column: 17, message: "70000 is out of range 0..65535" }),
    "f.yaml:12:17: upstreams.web.servers[0].weight: 70000 is out of range 0..65535");
  assert.equal(formatError({ file: "f.yaml", path: "", line: 3, column: 1, message: "YAML: bad" }), "f.yaml:3:1: YAML: bad");
  assert.equal(formatError({ file: "f.yaml", path: "", line: 0, column: 0, message: "cannot read" }), "f.yaml: cannot read");
});

test("the per-protocol key table matches what each registered protocol adapter says it produces", () => {
  for (const [protocol, keys] of Object.entries(PROTOCOL_KEYS)) {
    const adapter = getProtocol(protocol);
    if (adapter === null) continue; // not registered yet: validation still knows the keys from schedulers.md 4.1
    assert.deepEqual([...adapter.keys].sort(), [...keys].sort(), protocol);
  }
});
