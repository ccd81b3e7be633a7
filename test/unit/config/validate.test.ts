// validate*.ts through loadConfigText: what a user sees for each kind of mistake, with line:column.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadConfig, loadConfigText, formatError, type LoadResult } from "../../../src/config/load.ts";

const FIXTURES = new URL("../../fixtures/conf/", import.meta.url).pathname;

/** "LINE:COL path: message" for each error, in file order. */
function errors(text: string, env: Record<string, string> = {}): string[] {
  const r = loadConfigText(text, "t.yaml", env);
  assert.ok(!r.ok, "expected the config to be rejected");
  return r.errors.map((e) => `${e.line}:${e.column} ${e.path}: ${e.message}`);
}

/** "LINE:COL" of the first `token` on 1-based `line` of text: where an error about it must point. */
function at(text: string, line: number, token: string): string {
  const col = text.split("\n")[line - 1].indexOf(token);
  assert.ok(col >= 0, `"${token}" is not on line ${line}`);
  return `${line}:${col + 1}`;
}

function accepted(text: string): Extract<LoadResult, { ok: true }>["plan"] {
  const r = loadConfigText(text, "t.yaml", {});
  assert.ok(r.ok, r.ok ? "" : r.errors.map(formatError).join("\n"));
  return r.plan;
}

/** A valid config; `up` and `ls` replace the upstream body and the listener list. */
function conf(up: string, ls: string, top = ""): string {
  return `${top}upstreams:\n  web:\n${up.replace(/^/gm, "    ")}\nlisteners:\n${ls.replace(/^/gm, "  ")}\n`;
}
const SERVERS = "servers: [ 127.0.0.1:9001 ]";
const HTTP = "- { name: a, protocol: http, listen: 127.0.0.1:8080, upstream: web }";

test("the three-mistake fixture yields exactly its three errors, each at its key or value", async () => {
  const r = await loadConfig(`${FIXTURES}three-mistakes.yaml`, {});
  assert.ok(!r.ok);
  const file = `${FIXTURES}three-mistakes.yaml`;
  assert.deepEqual(r.errors.map(formatError), [
    `${file}:7:5: upstreams.web.shceduler: unknown key "shceduler" (did you mean "scheduler"?)`,
    `${file}:11:44: upstreams.web.servers[1].weight: 70000 is out of range 0..65535`,
    `${file}:17:15: listeners[0].upstream: no upstream named "wbe" (did you mean "web"?); defined: web`,
  ]);
});

test("unknown keys are errors at the key, with a suggestion when one is close, else the known keys", () => {
  assert.deepEqual(errors(conf(`${SERVERS}\nretires: 2`, HTTP, "wrokers: 2\n")), [
    `1:1 wrokers: unknown key "wrokers" (did you mean "workers"?)`,
    `5:5 upstreams.web.retires: unknown key "retires" (did you mean "retries"?)`,
  ]);
  const far = errors(conf(SERVERS, HTTP, "colour: blue\n"));
  assert.equal(far.length, 1);
  assert.match(far[0], /^1:1 colour: unknown key "colour"; known here: workers, watch, /);
});

test("a key the listener's protocol cannot produce is an error at the key's value", () => {
  const ls = [
    "- { name: a, protocol: http, listen: 127.0.0.1:8080, upstream: web, key: user }",
    "- { name: b, protocol: tcp,  listen: 127.0.0.1:8081, upstream: web, key: \"header:x-id\" }",
    "- { name: c, protocol: smtp, listen: 127.0.0.1:8082, upstream: web, key: user }",
    "- { name: d, protocol: imap, listen: 127.0.0.1:8083, upstream: web, key: rcpt_domain }",
    "- { name: e, protocol: mysql, listen: 127.0.0.1:8084, upstream: web, key: host }",
  ].join("\n");
  const t = conf(SERVERS, ls);
  assert.deepEqual(errors(t), [
    `${at(t, 5, "user }")} listeners[0].key: key "user" is not available on http listeners; http can use: source, destination, host, path, uri, header:NAME, cookie:NAME, query:NAME`,
    `${at(t, 6, "\"header:x-id")} listeners[1].key: key "header:x-id" is not available on tcp listeners; tcp can use: source, destination`,
    `${at(t, 7, "user }")} listeners[2].key: key "user" is not available on smtp listeners; smtp can use: source, destination, rcpt_domain`,
    `${at(t, 8, "rcpt_domain")} listeners[3].key: key "rcpt_domain" is not available on imap listeners; imap can use: source, destination, user`,
    `${at(t, 9, "host }")} listeners[4].key: key "host" is not available on mysql listeners; mysql can use: source, destination`,
  ]);
});

test("every key each protocol can produce is accepted (schedulers.md 4.1)", () => {
  const perProtocol: Record<string, string[]> = {
    http: ["source", "destination", "host", "path", "uri", "header:X-User-Id", "cookie:sid", "query:user"],
    tcp: ["source", "destination"], mysql: ["source", "destination"],
    smtp: ["source", "destination", "rcpt_domain"], pop3: ["source", "destination", "user"], imap: ["source", "destination", "user"],
  };
  let port = 8000;
  const ls: string[] = [];
  for (const [protocol, keys] of Object.entries(perProtocol)) {
    for (const key of keys) ls.push(`- { protocol: ${protocol}, listen: 127.0.0.1:${port++}, upstream: web, key: "${key}" }`);
  }
  const plan = accepted(conf(SERVERS, ls.join("\n")));
  assert.equal(plan.listeners.length, ls.length);
  assert.deepEqual(plan.listeners.slice(5, 8).map((l) => l.routes[0].key), ["header:x-user-id", "cookie:sid", "query:user"], "header names are lower-cased");
  assert.equal(plan.listeners[0].name, "http-0", "a listener without a name is named protocol-index");
});

test("unknown and malformed keys are errors", () => {
  const ls = [
    "- { name: a, protocol: http, listen: 127.0.0.1:8080, upstream: web, key: sorce }",
    "- { name: b, protocol: http, listen: 127.0.0.1:8081, upstream: web, key: \"header:\" }",
  ].join("\n");
  const t = conf(SERVERS, ls);
  const e = errors(t);
  assert.equal(e.length, 2);
  assert.ok(e[0].startsWith(`${at(t, 5, "sorce")} listeners[0].key: unknown key "sorce" (did you mean "source"?)`), e[0]);
  assert.ok(e[1].startsWith(`${at(t, 6, "\"header:\"")} listeners[1].key: "header:" needs a header name`), e[1]);
});

test("wrong types and ranges: each reported at its value", () => {
  const up = [
    "scheduler: rr",
    "retries: many",
    "slow_start: 10",
    "health: { type: http, rise: 0, fall: 2.5, interval: 2s, expect: 200-700 }",
    "persistence: { netmask: 255.0.255.0 }",
    "servers:",
    "  - { address: 127.0.0.1:9001, backup: maybe, max_conns: -1 }",
  ].join("\n");
  const t = conf(up, HTTP, "watch: yes\nshutdown_timeout: 30 s\n");
  assert.deepEqual(errors(t), [
    `${at(t, 1, "yes")} watch: expected true or false, got "yes"`,
    `${at(t, 2, "30 s")} shutdown_timeout: "30 s" is not a duration: write 250ms, 2s, 1m, 1h or 1m30s`,
    `${at(t, 6, "many")} upstreams.web.retries: expected a whole number, got "many"`,
    `${at(t, 7, "10")} upstreams.web.slow_start: a duration needs a unit: 10ms or 10s (units: ms s m h d)`,
    `${at(t, 8, "0,")} upstreams.web.health.rise: 0 is out of range 1..1000`,
    `${at(t, 8, "2.5")} upstreams.web.health.fall: expected a whole number, got 2.5`,
    `${at(t, 8, "200-700")} upstreams.web.health.expect: "200-700" is not a status range within 100-599`,
    `${at(t, 9, "255.0.255.0")} upstreams.web.persistence.netmask: "255.0.255.0" is not a netmask (a prefix length such as 24, or 255.255.255.0)`,
    `${at(t, 11, "maybe")} upstreams.web.servers[0].backup: expected true or false, got "maybe"`,
    `${at(t, 11, "-1")} upstreams.web.servers[0].max_conns: -1 is out of range 0..1000000000`,
  ]);
});

test("scheduler names come from the registry, with a suggestion", () => {
  const e = errors(conf(`scheduler: wrl\n${SERVERS}`, HTTP));
  assert.equal(e.length, 1);
  assert.match(e[0], /^3:16 upstreams\.web\.scheduler: unknown scheduler "wrl" \(did you mean "wrr"\?\); known: rr, wrr, /);
});

test("sched_flags: known names, and only for the scheduler that reads them", () => {
  assert.deepEqual(accepted(conf(`scheduler: sh\nsched_flags: [sh-fallback, sh-port]\n${SERVERS}`, HTTP)).upstreams.get("web")?.schedFlags, ["sh-fallback", "sh-port"]);
  assert.deepEqual(accepted(conf(`scheduler: mh\nsched_flags: "mh-fallback,mh-port"\n${SERVERS}`, HTTP)).upstreams.get("web")?.schedFlags, ["mh-fallback", "mh-port"]);
  const t = conf(`scheduler: rr\nsched_flags: [sh-port, sh-falback]\n${SERVERS}`, HTTP);
  const e = errors(t);
  assert.equal(e.length, 2);
  assert.equal(e[0], `${at(t, 4, "sh-port")} upstreams.web.sched_flags[0]: sh-port applies only to scheduler sh, not rr`);
  assert.ok(e[1].startsWith(`${at(t, 4, "sh-falback")} upstreams.web.sched_flags[1]: unknown scheduler flag "sh-falback" (did you mean "sh-fallback"?)`), e[1]);
});

test("health keys that the check type does not read are errors, not silent no-ops", () => {
  const t = conf(`health: { type: tcp, path: /x, user: u }\n${SERVERS}`, HTTP);
  assert.deepEqual(errors(t), [
    `${at(t, 3, "path")} upstreams.web.health.path: path applies only to health type http, not tcp`,
    `${at(t, 3, "user")} upstreams.web.health.user: user applies only to health type mysql, not tcp`,
  ]);
  const t2 = conf(`health: { type: htpp }\n${SERVERS}`, HTTP);
  const e = errors(t2);
  assert.ok(e[0].startsWith(`${at(t2, 3, "htpp")} upstreams.web.health.type: "htpp" is not one of none, tcp, http`), e[0]);
  assert.match(e[0], /\(did you mean "http"\?\)$/);
});

test("references: a listener or route upstream must be defined", () => {
  const ls = [
    "- name: a",
    "  protocol: http",
    "  listen: 127.0.0.1:8080",
    "  routes:",
    "    - { match: { host: api.example.com }, upstream: api }",
    "    - { upstream: web }",
    "- { name: b, protocol: tcp, listen: 127.0.0.1:8081, upstream: webb }",
  ].join("\n");
  const t = conf(SERVERS, ls);
  assert.deepEqual(errors(t), [
    `${at(t, 9, "api }")} listeners[0].routes[0].upstream: no upstream named "api"; defined: web`,
    `${at(t, 11, "webb")} listeners[1].upstream: no upstream named "webb" (did you mean "web"?); defined: web`,
  ]);
});

test("listener shapes: http needs routes or upstream (not both); others need upstream; missing keys at the entry", () => {
  const ls = [
    "- { name: a, protocol: http, listen: 127.0.0.1:8080, upstream: web, routes: [ { upstream: web } ] }",
    "- { name: b, protocol: http, listen: 127.0.0.1:8081 }",
    "- { name: c, protocol: tcp, listen: 127.0.0.1:8082, routes: [ { upstream: web } ] }",
    "- { name: d, upstream: web }",
  ].join("\n");
  const t = conf(SERVERS, ls);
  assert.deepEqual(errors(t), [
    `${at(t, 5, "upstream: web, routes")} listeners[0].upstream: give either routes (each with its upstream and key) or upstream, not both`,
    `${at(t, 6, "{")} listeners[1].upstream: missing upstream (or routes): the upstream pool this listener sends to`,
    `${at(t, 7, "{")} listeners[2].upstream: missing upstream: the upstream pool this listener sends to`,
    `${at(t, 7, "routes")} listeners[2].routes: routes applies only to http listeners, not tcp`,
    `${at(t, 8, "{")} listeners[3].protocol: missing protocol: http | tcp | mysql | smtp | pop3 | imap`,
    `${at(t, 8, "{")} listeners[3].listen: missing listen: the address to listen on (host:port, [::1]:port or :port)`,
  ]);
});

test("protocol-specific listener keys elsewhere are errors", () => {
  const ls = [
    "- { name: a, protocol: http, listen: 127.0.0.1:8080, upstream: web, xclient: true, idle_timeout: 1m }",
    "- { name: b, protocol: tcp, listen: 127.0.0.1:8081, upstream: web, hostname: mx.example.com, timeouts: { idle: 1s } }",
    "- { name: c, protocol: pop3, listen: 127.0.0.1:8082, upstream: web, xclient: true, limits: { max_body_size: 1mb } }",
  ].join("\n");
  const t = conf(SERVERS, ls);
  assert.deepEqual(errors(t), [
    `${at(t, 5, "xclient")} listeners[0].xclient: xclient applies only to smtp listeners, not http`,
    `${at(t, 5, "idle_timeout")} listeners[0].idle_timeout: idle_timeout applies only to tcp, mysql, smtp, pop3, imap listeners, not http`,
    `${at(t, 6, "hostname")} listeners[1].hostname: hostname applies only to smtp, pop3, imap listeners, not tcp`,
    `${at(t, 6, "timeouts")} listeners[1].timeouts: timeouts applies only to http listeners, not tcp`,
    `${at(t, 7, "xclient")} listeners[2].xclient: xclient applies only to smtp listeners, not pop3`,
    `${at(t, 7, "max_body_size")} listeners[2].limits.max_body_size: max_body_size applies only to http listeners, not pop3`,
  ]);
});

test("duplicate listener names and addresses (also against admin and demo origins) are errors", () => {
  const ls = [
    "- { name: a, protocol: http, listen: 127.0.0.1:8080, upstream: web }",
    "- { name: a, protocol: tcp, listen: :8080, upstream: web }",
    "- { name: b, protocol: tcp, listen: 127.0.0.1:9090, upstream: web }",
    "- { name: c, protocol: tcp, listen: 127.0.0.1:0, upstream: web }",
    "- { name: d, protocol: tcp, listen: 127.0.0.1:0, upstream: web }",
  ].join("\n");
  const top = "admin: { listen: 127.0.0.1:9090 }\ndemo: { origins: [ 127.0.0.1:8080 ] }\n";
  const t = conf(SERVERS, ls, top);
  assert.deepEqual(errors(t), [
    `${at(t, 1, "127")} admin.listen: 127.0.0.1:9090 is also used by listener b (listeners[2].listen)`,
    `${at(t, 2, "127")} demo.origins[0]: 127.0.0.1:8080 is also used by listener a (listeners[0].listen)`,
    `${at(t, 8, "a,")} listeners[1].name: duplicate listener name "a" (also listeners[0])`,
    `${at(t, 8, ":8080")} listeners[1].listen: :8080 is also used by listener a (listeners[0].listen)`,
  ]);
});

test("admin without listen takes 127.0.0.1:9090, and that default is checked for clashes too", () => {
  const t = conf(SERVERS, "- { name: a, protocol: http, listen: 127.0.0.1:9090, upstream: web }", "admin: { token: x }\n");
  assert.deepEqual(errors(t), [`${at(t, 1, "{")} admin.listen: 127.0.0.1:9090 is also used by listener a (listeners[0].listen)`]);
});

test("servers: one of address/dns/srv; dns needs port; srv takes none; duplicates and empty lists refused", () => {
  const up = [
    "servers:",
    "  - { address: 127.0.0.1:9001, dns: a.example.com }",
    "  - { weight: 2 }",
    "  - { dns: api.example.com }",
    "  - { srv: _http._tcp.example.com, port: 80 }",
    "  - 127.0.0.1:9002",
    "  - { address: 127.0.0.1:9002 }",
    "  - { address: 127.0.0.1:9003, port: 9004 }",
  ].join("\n");
  const t = conf(up, HTTP);
  assert.deepEqual(errors(t), [
    `${at(t, 4, "{")} upstreams.web.servers[0]: a server takes only one of address, dns, srv (got address and dns)`,
    `${at(t, 5, "{")} upstreams.web.servers[1]: a server needs one of address (host:port), dns (a name to resolve, with port) or srv (a SRV name)`,
    `${at(t, 6, "{")} upstreams.web.servers[2].port: missing port: the port to connect to on every address the name resolves to`,
    `${at(t, 7, "port")} upstreams.web.servers[3].port: an SRV record gives the port itself; remove port`,
    `${at(t, 9, "{")} upstreams.web.servers[5]: duplicate server 127.0.0.1:9002 (also upstreams.web.servers[4])`,
    `${at(t, 10, "port")} upstreams.web.servers[6].port: port is part of address (host:port)`,
  ]);
  assert.deepEqual(errors(conf("servers: []", HTTP)), ["3:14 upstreams.web.servers: an upstream needs at least one server"]);
  assert.deepEqual(errors(conf("scheduler: rr", HTTP)), [
    "3:5 upstreams.web.servers: missing servers: the list of servers ({ address: host:port }, { dns: name, port: N } or { srv: name })",
  ]);
});

test("http routes: host without port, path_prefix with /, no route after a catch-all", () => {
  const ls = [
    "- name: a",
    "  protocol: http",
    "  listen: 127.0.0.1:8080",
    "  routes:",
    "    - { match: { host: \"api.example.com:443\" }, upstream: web }",
    "    - { match: { path_prefix: v1/ }, upstream: web }",
    "    - { upstream: web }",
    "    - { match: { host: late.example.com }, upstream: web }",
  ].join("\n");
  const t = conf(SERVERS, ls);
  assert.deepEqual(errors(t), [
    `${at(t, 9, "\"api")} listeners[0].routes[0].match.host: "api.example.com:443": match a host without its port`,
    `${at(t, 10, "v1/")} listeners[0].routes[1].match.path_prefix: "v1/" must start with "/"`,
    `${at(t, 12, "{")} listeners[0].routes[3]: this route is never used: listeners[0].routes[2] matches every request before it`,
  ]);
});

test("sticky is for pools that serve an http listener", () => {
  const ls = "- { name: db, protocol: mysql, listen: 127.0.0.1:3307, upstream: web }";
  assert.deepEqual(errors(conf(`sticky: { cookie: SY }\n${SERVERS}`, ls)), [
    "3:5 upstreams.web.sticky: sticky is a cookie, for http listeners; web serves only mysql listeners (use persistence for connection affinity)",
  ]);
  accepted(conf(`sticky: { cookie: SY }\n${SERVERS}`, `${ls}\n${HTTP}`));
});

test("TLS files must be readable; implicit_tls needs tls; mysql takes no tls", () => {
  const ls = [
    "- { name: a, protocol: http, listen: 127.0.0.1:8443, upstream: web, tls: { cert: /nonexistent/cert.pem, key: /nonexistent/key.pem } }",
    "- { name: b, protocol: imap, listen: 127.0.0.1:993, upstream: web, implicit_tls: true }",
    "- { name: c, protocol: mysql, listen: 127.0.0.1:3307, upstream: web, tls: { cert: a, key: b } }",
  ].join("\n");
  const t = conf(SERVERS, ls);
  assert.deepEqual(errors(t), [
    `${at(t, 5, "/nonexistent/cert")} listeners[0].tls.cert: cannot read file "/nonexistent/cert.pem" (ENOENT)`,
    `${at(t, 5, "/nonexistent/key")} listeners[0].tls.key: cannot read file "/nonexistent/key.pem" (ENOENT)`,
    `${at(t, 6, "true")} listeners[1].implicit_tls: implicit_tls needs tls: { cert, key }`,
    `${at(t, 7, "tls")} listeners[2].tls: tls applies only to http, tcp, smtp, pop3, imap listeners, not mysql`,
  ]);
});

test("YAML syntax errors are reported with line:column, and validation waits for them to be fixed", () => {
  const e = errors("workers: 1\nupstreams:\n  web: { servers: [127.0.0.1:9001 }\nlisteners: []\n");
  assert.ok(e.length >= 1);
  assert.match(e[0], /^3:\d+ : YAML: /);
  const dup = errors("workers: 1\nworkers: 2\nlisteners: []\n");
  assert.deepEqual(dup, ["2:1 : YAML: Map keys must be unique"]);
});

test("unquoted IPv6 addresses get a hint to quote them", () => {
  const t = conf(SERVERS, "- { name: a, protocol: http, listen: [ \"::1\" ], upstream: web }");
  assert.deepEqual(errors(t), [
    `${at(t, 5, "[")} listeners[0].listen: expected an address (host:port), got a list (an IPv6 address must be quoted: "[::1]:8080")`,
  ]);
});

test("the file itself: empty, not a map, unreadable", async () => {
  assert.deepEqual(errors(""), ["1:1 : the file is empty: it needs at least listeners and upstreams"]);
  assert.match(errors("- a\n- b\n")[0], /^1:1 : expected a map of settings/);
  const r = await loadConfig("/nonexistent/switchyard.yaml", {});
  assert.ok(!r.ok);
  assert.equal(formatError(r.errors[0]), "/nonexistent/switchyard.yaml: cannot read the configuration file (ENOENT)");
});

test("anchors, aliases and merge keys work, and alias bombs are stopped", () => {
  const text = [
    "x-defaults: &checks { type: http, path: /healthz }",
  ].join("\n");
  // x-* keys are not allowed at the top: anchors go on a real key instead
  assert.match(errors(`${text}\n${conf(SERVERS, HTTP)}`)[0], /unknown key "x-defaults"/);
  const plan = accepted([
    "upstreams:",
    "  a: &pool",
    "    scheduler: rr",
    "    health: { type: http, path: /healthz }",
    "    servers: [ 127.0.0.1:9001 ]",
    "  b:",
    "    <<: *pool",
    "    servers: [ 127.0.0.1:9002 ]",
    "listeners:",
    "  - { name: a, protocol: http, listen: 127.0.0.1:8080, upstream: a }",
    "  - { name: b, protocol: http, listen: 127.0.0.1:8081, upstream: b }",
  ].join("\n"));
  const b = plan.upstreams.get("b");
  assert.equal(b?.scheduler, "rr");
  assert.equal(b?.health.path, "/healthz");
  assert.deepEqual(b?.servers.map((s) => s.address), ["127.0.0.1:9002"]);

  const lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"];
  for (let i = 1; i < 8; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(", ")}]`);
  const bomb = errors(`${lines.join("\n")}\n`);
  assert.ok(bomb.some((m) => /too large or too deep/.test(m)), bomb.join("\n"));
});
