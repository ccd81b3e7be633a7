// auth_http (nginx-compatible hook): the HTTP service gets nginx's request headers and names the
// server; Auth-User/Auth-Pass replace the credentials; a refusal is rendered per protocol (the
// client may retry when Auth-Wait came, else the session closes); the service down -> the
// temporary-failure reply.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { startProxy, type TestProxy } from "../support/proxy.ts";
import { LineClient, closedPort, lenientSmtp, scriptedServer } from "./mail-helpers.ts";

const closers: (() => Promise<void>)[] = [];
let proxy: TestProxy | null = null;
after(async () => {
  await proxy?.stop(500);
  for (const c of closers) await c();
});

test("auth_http names the server, rewrites credentials, refuses with and without Auth-Wait; SMTP gets the envelope headers", async () => {
  const imapSrv = await scriptedServer("* OK fake\r\n", (c, chunk) => {
    const tag = chunk.split(" ")[0];
    c.socket.write(/ LOGIN "alice@store" "real-pw"/.test(chunk) ? `${tag} OK Logged in\r\n` : `${tag} NO wrong\r\n`);
  });
  const popSrv = await scriptedServer("+OK fake\r\n", (c, chunk) => {
    c.socket.write(/^(USER bob|PASS bob-pw)/.test(chunk) ? "+OK\r\n" : "-ERR no\r\n");
  });
  const mx = await lenientSmtp();
  closers.push(imapSrv.close, popSrv.close, mx.close);
  const asked: http.IncomingHttpHeaders[] = [];
  const auth = http.createServer((req, res) => {
    asked.push(req.headers);
    const user = decodeURIComponent(String(req.headers["auth-user"]));
    const h: Record<string, string> = {};
    if (req.headers["auth-protocol"] === "smtp") {
      if (String(req.headers["auth-smtp-to"]).includes("nobody")) Object.assign(h, { "Auth-Status": "Recipient unknown", "Auth-Error-Code": "550 5.1.1", "Auth-Wait": "0" });
      else Object.assign(h, { "Auth-Status": "OK", "Auth-Server": "127.0.0.1", "Auth-Port": String(mx.port) });
    } else if (user === "alice") Object.assign(h, { "Auth-Status": "OK", "Auth-Server": "127.0.0.1", "Auth-Port": String(imapSrv.port), "Auth-User": "alice@store", "Auth-Pass": "real-pw" });
    else if (user === "bob") Object.assign(h, { "Auth-Status": "OK", "Auth-Server": "127.0.0.1", "Auth-Port": String(popSrv.port) });
    else if (user === "mallory") Object.assign(h, { "Auth-Status": "Invalid login or password", "Auth-Wait": "0" });
    else Object.assign(h, { "Auth-Status": "Account disabled" });
    res.writeHead(200, h);
    res.end("ignored body");
  });
  await new Promise<void>((r) => auth.listen(0, "127.0.0.1", () => r()));
  closers.push(() => new Promise<void>((r) => auth.close(() => r())));
  const authUrl = `http://127.0.0.1:${(auth.address() as AddressInfo).port}/auth`;
  const dead = `127.0.0.1:${await closedPort()}`;
  proxy = await startProxy(`upstreams:
  unused:
    scheduler: rr
    servers: [ { address: "${dead}" } ]
listeners:
  - { name: imap, protocol: imap, listen: 127.0.0.1:0, upstream: unused, hostname: px.test, auth_http: "${authUrl}" }
  - { name: pop3, protocol: pop3, listen: 127.0.0.1:0, upstream: unused, hostname: px.test, auth_http: "${authUrl}" }
  - { name: smtp, protocol: smtp, listen: 127.0.0.1:0, upstream: unused, hostname: px.test, auth_http: "${authUrl}" }
  - { name: broken, protocol: imap, listen: 127.0.0.1:0, upstream: unused, hostname: px.test, auth_http: "http://${dead}/auth" }
`);

  const i = await LineClient.connect(proxy.port("imap"));
  assert.match(await i.line(), /^\* OK /, "no pool server is dialled early: the service chooses");
  i.write("a LOGIN mallory pw\r\n");
  assert.equal(await i.line(), "a NO Invalid login or password");
  i.write("b LOGIN alice \"p w%\"\r\n");
  assert.equal(await i.line(), "b OK Logged in");
  assert.equal(imapSrv.conns[0].received, 'b LOGIN "alice@store" "real-pw"\r\n');
  const a = asked.find((h) => h["auth-user"] === "alice");
  assert.ok(a !== undefined);
  assert.equal(a["auth-method"], "plain");
  assert.equal(a["auth-pass"], "p%20w%25");
  assert.equal(a["auth-protocol"], "imap");
  assert.equal(a["auth-login-attempt"], "2");
  assert.equal(a["client-ip"], "127.0.0.1");
  i.close();

  const q = await LineClient.connect(proxy.port("pop3"));
  await q.line();
  q.write("USER eve\r\nPASS pw\r\n");
  assert.equal(await q.line(), "+OK");
  assert.equal(await q.line(), "-ERR Account disabled");
  assert.equal(await q.waitClosed(), true, "no Auth-Wait: the session ends");
  const q2 = await LineClient.connect(proxy.port("pop3"));
  await q2.line();
  q2.write("USER bob\r\nPASS bob-pw\r\n");
  assert.equal(await q2.line(), "+OK");
  assert.equal(await q2.line(), "+OK");
  q2.close();

  const s = await LineClient.connect(proxy.port("smtp"));
  await s.line();
  s.write("EHLO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<nobody@d.test>\r\nRCPT TO:<b@d.test>\r\n");
  await s.reply();
  await s.reply();
  assert.equal((await s.reply())[0], "550 5.1.1 Recipient unknown");
  assert.equal((await s.reply())[0], "250 2.1.5 Ok");
  const sm = asked.find((h) => h["auth-protocol"] === "smtp" && String(h["auth-smtp-to"]).includes("b@d.test"));
  assert.ok(sm !== undefined);
  assert.equal(sm["auth-method"], "none");
  assert.equal(sm["auth-smtp-helo"], "c.test");
  assert.equal(sm["auth-smtp-from"], "MAIL FROM:<a@c.test>");
  assert.deepEqual(mx.commands.slice(0, 3), ["EHLO c.test", "MAIL FROM:<a@c.test>", "RCPT TO:<b@d.test>"]);
  s.close();

  const b = await LineClient.connect(proxy.port("broken"));
  await b.line();
  b.write("a LOGIN alice pw\r\n");
  assert.match(await b.line(), /^\* BYE \[UNAVAILABLE\] /, "auth service down: a temporary failure");
  assert.equal(await b.waitClosed(), true);
});
