// env.ts and its use in load.ts: ${NAME} and ${NAME:-default} in any scalar (config.md "File shape").
import { test } from "node:test";
import assert from "node:assert/strict";
import { expandEnv } from "../../../src/config/env.ts";
import { formatError, loadConfigText } from "../../../src/config/load.ts";

function expanded(text: string, env: Record<string, string | undefined>): string {
  const r = expandEnv(text, env);
  assert.ok(r.ok, r.ok ? "" : r.message);
  return r.value;
}

test("expandEnv: ${NAME} takes the variable, anywhere in the text, several times", () => {
  assert.equal(expanded("${A}", { A: "x" }), "x");
  assert.equal(expanded("http://${HOST}:${PORT}/auth", { HOST: "h", PORT: "81" }), "http://h:81/auth");
  assert.equal(expanded("no refs $HOME here", {}), "no refs $HOME here");
});

test("expandEnv: ${NAME:-default} uses the default when unset or empty (shell meaning)", () => {
  assert.equal(expanded("${A:-dflt}", {}), "dflt");
  assert.equal(expanded("${A:-dflt}", { A: "" }), "dflt");
  assert.equal(expanded("${A:-dflt}", { A: "set" }), "set");
  assert.equal(expanded("${A:-}", {}), "");
  assert.equal(expanded("${A:-a:b-c}", {}), "a:b-c");
});

test("expandEnv: $${ writes a literal ${", () => {
  assert.equal(expanded("pa$${X}ss", { X: "no" }), "pa${X}ss");
});

test("expandEnv: unset without default, bad names and unclosed refs fail, naming the variable not its value", () => {
  const unset = expandEnv("${MISSING}", {});
  assert.ok(!unset.ok);
  assert.match(unset.message, /MISSING is not set/);
  for (const bad of ["${}", "${1A}", "${A B}", "${A", "${A:=x}"]) assert.equal(expandEnv(bad, {}).ok, false, bad);
  const ok = expandEnv("${SECRET}", { SECRET: "hunter2" });
  assert.ok(ok.ok);
});

const base = (extra: string): string => `
upstreams:
  web:
    scheduler: rr
    servers: [ { address: "\${ORIGIN:-127.0.0.1:9001}" } ]
listeners:
  - { name: a, protocol: http, listen: "\${LISTEN:-127.0.0.1:8080}", upstream: web }
${extra}`;

test("load: variables and defaults fill any value; plain scalars are typed after expansion", () => {
  const text = base(`workers: \${WORKERS:-2}
watch: \${WATCH:-false}
admin:
  listen: 127.0.0.1:9090
  token: \${TOKEN:-}
pid_file: \${PID_FILE:-/tmp/x.pid}
`);
  const dflt = loadConfigText(text, "t.yaml", {});
  assert.ok(dflt.ok, dflt.ok ? "" : dflt.errors.map(formatError).join("\n"));
  assert.equal(dflt.plan.workers, 2);
  assert.equal(dflt.plan.watch, false);
  assert.equal(dflt.plan.admin?.token, null, "an empty token means no token");
  assert.equal(dflt.plan.pidFile, "/tmp/x.pid");
  assert.equal(dflt.plan.listeners[0].listen.text, "127.0.0.1:8080");
  assert.equal(dflt.plan.upstreams.get("web")?.servers[0].address, "127.0.0.1:9001");

  const set = loadConfigText(text, "t.yaml", { WORKERS: "3", WATCH: "true", TOKEN: "12345", LISTEN: ":8181", ORIGIN: "10.0.0.9:80" });
  assert.ok(set.ok, set.ok ? "" : set.errors.map(formatError).join("\n"));
  assert.equal(set.plan.workers, 3);
  assert.equal(set.plan.watch, true);
  assert.equal(set.plan.admin?.token, "12345", "a numeric token stays text");
  assert.equal(set.plan.listeners[0].listen.text, ":8181");
  assert.equal(set.plan.upstreams.get("web")?.servers[0].address, "10.0.0.9:80");
});

test("load: an unset variable without default is an error at that scalar's line:column", () => {
  const text = base(`admin:
  listen: 127.0.0.1:9090
  token: \${ADMIN_TOKEN}
`);
  const r = loadConfigText(text, "t.yaml", {});
  assert.ok(!r.ok);
  assert.deepEqual(r.errors.map(formatError), [
    "t.yaml:10:10: admin.token: environment variable ADMIN_TOKEN is not set (write ${ADMIN_TOKEN:-default} to give a default)",
  ]);
  assert.ok(loadConfigText(text, "t.yaml", { ADMIN_TOKEN: "s3cret" }).ok);
});

test("load: an expanded value is still validated, and the error does not leak the value", () => {
  const r = loadConfigText(base(""), "t.yaml", { LISTEN: "secret-host:99999" });
  assert.ok(!r.ok);
  assert.equal(r.errors.length, 1);
  assert.equal(r.errors[0].path, "listeners[0].listen");
  assert.equal(r.errors[0].line, 7);
  assert.match(r.errors[0].message, /port 99999 is out of range/);
});

test("load: keys are not expanded; quoted values stay strings", () => {
  const r = loadConfigText(base(`log: { level: "\${LEVEL:-info}" }\n`), "t.yaml", {});
  assert.ok(r.ok);
  assert.equal(r.plan.log.level, "info");
  const k = loadConfigText(base(`\${KEY}: 1\n`), "t.yaml", { KEY: "workers" });
  assert.ok(!k.ok);
  assert.match(k.errors[0].message, /unknown key "\$\{KEY\}"/);
});
