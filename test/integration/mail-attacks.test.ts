// Mail listeners against scripted servers: hardening.md section 5 cases M01-M10 (no server,
// STARTTLS injection, SMTP smuggling, over-long lines, IMAP literals, backends dying mid-response),
// plus the SMTP relay rules (replies in order, never a 250 of our own, XCLIENT from clients refused),
// max_errors and the pre-login timeout. Every byte a server received is recorded and checked.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startProxy, type TestProxy } from "../support/proxy.ts";
import { LineClient, TLS_CERT, TLS_KEY, closedPort, lenientSmtp, scriptedServer, sleep } from "./mail-helpers.ts";

const proxies: TestProxy[] = [];
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const p of proxies) await p.stop(500);
  for (const c of closers) await c();
});

async function proxy(yaml: string): Promise<TestProxy> {
  const p = await startProxy(yaml);
  proxies.push(p);
  return p;
}

function listener(name: string, protocol: string, upstream: string, extra = ""): string {
  return `  - { name: ${name}, protocol: ${protocol}, listen: 127.0.0.1:0, upstream: ${upstream}, hostname: px.test${extra} }\n`;
}

function pool(name: string, addresses: readonly string[], extra = ""): string {
  return `  ${name}:\n    scheduler: rr\n    connect_timeout: 1s\n    retries: 2\n${extra}    servers: [ ${addresses.map((a) => `{ address: "${a}" }`).join(", ")} ]\n`;
}

// --- M01 / M08: no server -------------------------------------------------------------------

test("M01/M08: no server up: SMTP 421 4.3.2, IMAP * BYE [UNAVAILABLE], POP3 -ERR [SYS/TEMP] as the first line, then close", async () => {
  const dead = [`127.0.0.1:${await closedPort()}`, `127.0.0.1:${await closedPort()}`];
  const p = await proxy(`upstreams:\n${pool("mx", dead)}${pool("st", dead)}listeners:\n${listener("smtp", "smtp", "mx")}${listener("imap", "imap", "st")}${listener("pop3", "pop3", "st")}`);
  const t0 = Date.now();
  const s = await LineClient.connect(p.port("smtp"));
  assert.match(await s.line(), /^421 4\.3\.2 /);
  assert.equal(await s.waitClosed(), true);
  assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  const i = await LineClient.connect(p.port("imap"));
  assert.match(await i.line(), /^\* BYE \[UNAVAILABLE\] /);
  assert.equal(await i.waitClosed(), true);
  const q = await LineClient.connect(p.port("pop3"));
  assert.match(await q.line(), /^-ERR \[SYS\/TEMP\] /);
  assert.equal(await q.waitClosed(), true);
});

test("M01/M08 with keys known only later (dh by rcpt domain / user): the temporary failure answers the RCPT / login, then close", async () => {
  const dead = [`127.0.0.1:${await closedPort()}`];
  const dh = (n: string): string => `  ${n}:\n    scheduler: dh\n    connect_timeout: 1s\n    servers: [ { address: "${dead[0]}" } ]\n`;
  const p = await proxy(`upstreams:\n${dh("mx")}${dh("st")}listeners:\n${listener("smtp", "smtp", "mx")}${listener("imap", "imap", "st")}${listener("pop3", "pop3", "st")}`);
  const s = await LineClient.connect(p.port("smtp"));
  assert.match(await s.line(), /^220 px\.test /);
  s.write("EHLO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b@d.test>\r\n");
  await s.reply();
  assert.deepEqual(await s.reply(), ["250 2.1.0 Ok"]);
  assert.match((await s.reply())[0], /^421 4\.3\.2 /);
  assert.equal(await s.waitClosed(), true);
  const i = await LineClient.connect(p.port("imap"));
  await i.line();
  i.write("a LOGIN alice pw\r\n");
  assert.match(await i.line(), /^\* BYE \[UNAVAILABLE\] /);
  assert.equal(await i.waitClosed(), true);
  const q = await LineClient.connect(p.port("pop3"));
  await q.line();
  q.write("USER alice\r\nPASS pw\r\n");
  assert.equal(await q.line(), "+OK");
  assert.match(await q.line(), /^-ERR \[SYS\/TEMP\] /);
  assert.equal(await q.waitClosed(), true);
});

test("a server that connects but sends no greeting or a bad one is skipped: the next server takes the session", async () => {
  const silent = await scriptedServer(null, () => { /* never greets */ });
  const refusing = await scriptedServer("* BYE go away\r\n", () => { /* */ });
  const good = await scriptedServer("* OK ready\r\n", (c, chunk) => {
    const tag = chunk.split(" ")[0];
    if (/ LOGIN /i.test(chunk)) c.socket.write(`${tag} OK Logged in\r\n`);
  });
  closers.push(silent.close, refusing.close, good.close);
  const p = await proxy(`upstreams:\n${pool("st", [silent.address, refusing.address, good.address])}listeners:\n${listener("imap", "imap", "st")}`);
  const i = await LineClient.connect(p.port("imap"));
  assert.match(await i.line(3000), /^\* OK /);
  i.write("a LOGIN alice pw\r\n");
  assert.equal(await i.line(), "a OK Logged in");
  assert.equal(good.conns.length, 1);
  assert.equal(good.conns[0].received, 'a LOGIN "alice" "pw"\r\n');
  const access = p.logs.find((l) => l.access === "session");
  assert.equal(access, undefined, "the session is still open");
  i.close();
});

// --- M05: STARTTLS injection ---------------------------------------------------------------------

test("M05: commands pipelined after STARTTLS / STLS are discarded (SMTP, IMAP, POP3)", async () => {
  const backend = await lenientSmtp();
  closers.push(backend.close);
  const tlsOpt = `, tls: { cert: "${TLS_CERT}", key: "${TLS_KEY}" }`;
  const p = await proxy(`upstreams:\n${pool("mx", [backend.address])}${pool("st", [`127.0.0.1:${await closedPort()}`])}listeners:\n` +
    `${listener("smtp", "smtp", "mx", tlsOpt)}  - { name: imap, protocol: imap, listen: 127.0.0.1:0, upstream: st, hostname: px.test, key: user${tlsOpt} }\n` +
    `  - { name: pop3, protocol: pop3, listen: 127.0.0.1:0, upstream: st, hostname: px.test, key: user${tlsOpt} }\n`);

  const s = await LineClient.connect(p.port("smtp"));
  await s.line();
  s.write("EHLO c.test\r\n");
  assert.equal((await s.reply()).at(-1), "250 STARTTLS");
  s.write("STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\nRSET\r\n");
  assert.equal(await s.line(), "220 2.0.0 Ready to start TLS");
  await s.startTls();
  s.write("EHLO c.test\r\n");
  const ehlo = await s.reply();
  assert.equal(ehlo[0], "250-px.test", "the first reply after TLS answers our EHLO, not an injected command");
  assert.ok(!ehlo.some((l) => l.includes("STARTTLS")), "STARTTLS is not offered again inside TLS");
  s.write("RCPT TO:<b@d.test>\r\n");
  assert.equal((await s.reply())[0], "503 5.5.1 Error: need MAIL command", "the injected MAIL FROM was not executed");
  s.write("QUIT\r\n");
  assert.equal(await s.line(), "221 2.0.0 Bye");
  assert.equal(backend.conns.length, 1, "early dial only");
  assert.equal(backend.commands.filter((c) => c.includes("injected")).length, 0);

  const i = await LineClient.connect(p.port("imap"));
  await i.line();
  i.write("a STARTTLS\r\nb NOOP\r\nc LOGIN alice pw\r\n");
  assert.equal(await i.line(), "a OK Begin TLS negotiation now.");
  await i.startTls();
  i.write("d NOOP\r\n");
  assert.equal(await i.line(), "d OK NOOP completed.", "no reply to b NOOP or c LOGIN");
  i.write("e CAPABILITY\r\n");
  const caps = await i.line();
  assert.ok(!caps.includes("STARTTLS"), caps);

  const q = await LineClient.connect(p.port("pop3"));
  await q.line();
  q.write("STLS\r\nUSER injected\r\n");
  assert.equal(await q.line(), "+OK Begin TLS negotiation");
  await q.startTls();
  q.write("PASS secret\r\n");
  assert.equal(await q.line(), "-ERR USER first", "the injected USER was discarded");
  q.write("QUIT\r\n");
  assert.equal(await q.line(), "+OK Bye");
});

test("implicit TLS: the greeting comes inside TLS; STARTTLS is not offered", async () => {
  const p = await proxy(`upstreams:\n${pool("st", [`127.0.0.1:${await closedPort()}`])}listeners:\n` +
    `  - { name: imaps, protocol: imap, listen: 127.0.0.1:0, upstream: st, hostname: px.test, key: user, implicit_tls: true, tls: { cert: "${TLS_CERT}", key: "${TLS_KEY}" } }\n`);
  const c = await LineClient.connectTls(p.port("imaps"));
  const g = await c.line();
  assert.match(g, /^\* OK \[CAPABILITY IMAP4rev1 /);
  assert.ok(!g.includes("STARTTLS"));
  c.write("a STARTTLS\r\n");
  assert.equal(await c.line(), "a BAD TLS is already active");
  c.close();
});

// --- M06 + M02-M04: SMTP relay ---------------------------------------------------------------

test("M06: DATA with \\n.\\r\\n, \\n.\\n, \\r\\n.\\n cannot smuggle a second message, even to a lenient server", async () => {
  const backend = await lenientSmtp();
  closers.push(backend.close);
  const p = await proxy(`upstreams:\n${pool("mx", [backend.address])}listeners:\n${listener("smtp", "smtp", "mx")}`);
  for (const eod of ["\n.\r\n", "\n.\n", "\r\n.\n", "\r.\r\n"]) {
    const before = backend.messages.length;
    const s = await LineClient.connect(p.port("smtp"));
    await s.line();
    s.write("EHLO c.test\r\n");
    await s.reply();
    s.write("MAIL FROM:<a@c.test>\r\n");
    await s.reply();
    s.write("RCPT TO:<b@d.test>\r\n");
    assert.equal((await s.reply())[0], "250 2.1.5 Ok");
    s.write("DATA\r\n");
    assert.match((await s.reply())[0], /^354 /);
    s.write(`Subject: one\r\n\r\nbody${eod}MAIL FROM:<smuggled@evil.test>\r\nRCPT TO:<victim@d.test>\r\nDATA\r\nSubject: two\r\n\r\nsmuggled\r\n.\r\n`);
    assert.equal((await s.reply())[0], "250 2.0.0 Ok: queued", JSON.stringify(eod));
    s.write("QUIT\r\n");
    assert.equal((await s.reply())[0], "221 2.0.0 Bye");
    assert.equal(s.rest(), "", `no extra replies for ${JSON.stringify(eod)}`);
    await s.waitClosed();
    assert.equal(backend.messages.length, before + 1, `exactly one message for ${JSON.stringify(eod)}`);
    const m = backend.messages[backend.messages.length - 1];
    assert.match(m.body, /MAIL FROM:<smuggled@evil\.test>/, "the would-be command is message text");
    assert.equal(m.rcpts.length, 1);
  }
  assert.equal(backend.commands.filter((c) => c.includes("smuggled")).length, 0);
});

test("M04: MAIL, two RCPTs (one rejected) and DATA pipelined: one reply per command, in order", async () => {
  const backend = await lenientSmtp();
  closers.push(backend.close);
  const p = await proxy(`upstreams:\n${pool("mx", [backend.address])}listeners:\n${listener("smtp", "smtp", "mx")}`);
  const s = await LineClient.connect(p.port("smtp"));
  await s.line();
  s.write("EHLO c.test\r\n");
  await s.reply();
  s.write("MAIL FROM:<a@c.test>\r\nRCPT TO:<reject@d.test>\r\nRCPT TO:<ok@d.test>\r\nDATA\r\n");
  assert.deepEqual([(await s.reply())[0], (await s.reply())[0], (await s.reply())[0], (await s.reply())[0]],
    ["250 2.1.0 Ok", "550 5.1.1 Recipient rejected", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>"]);
  s.write("hi\r\n.\r\nQUIT\r\n");
  assert.equal((await s.reply())[0], "250 2.0.0 Ok: queued");
  assert.equal((await s.reply())[0], "221 2.0.0 Bye");
  assert.equal(await s.waitClosed(), true);
  assert.equal(s.rest(), "");
});

test("M03: the server's 451 to end-of-DATA reaches the client; the proxy adds no 250", async () => {
  const backend = await lenientSmtp({ endOfData: "451 4.3.0 Error: queue file write error\r\n" });
  closers.push(backend.close);
  const p = await proxy(`upstreams:\n${pool("mx", [backend.address])}listeners:\n${listener("smtp", "smtp", "mx")}`);
  const s = await LineClient.connect(p.port("smtp"));
  await s.line();
  s.write("HELO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b@d.test>\r\n");
  await s.reply(); await s.reply(); await s.reply();
  s.write("DATA\r\n");
  await s.reply();
  s.write("x\r\n.\r\n");
  assert.deepEqual(await s.reply(), ["451 4.3.0 Error: queue file write error"]);
  await sleep(100);
  assert.equal(s.rest(), "");
  s.close();
});

test("M02: the server dies during DATA: the client gets 421 4.3.2, then the connection closes", async () => {
  const backend = await lenientSmtp({ dieInData: true });
  closers.push(backend.close);
  const p = await proxy(`upstreams:\n${pool("mx", [backend.address])}listeners:\n${listener("smtp", "smtp", "mx")}`);
  const s = await LineClient.connect(p.port("smtp"));
  await s.line();
  s.write("EHLO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b@d.test>\r\n");
  await s.reply(); await s.reply(); await s.reply();
  s.write("DATA\r\n");
  await s.reply();
  s.write("line one\r\nline two\r\n");
  const r = await s.reply();
  assert.match(r[0], /^421 4\.3\.2 /);
  assert.equal(await s.waitClosed(), true);
  assert.ok(!s.received.includes("250 2.0.0"), "no acceptance of the message");
});

test("the SMTP relay refuses XCLIENT/XFORWARD from clients and hides XCLIENT/CHUNKING in the server's EHLO", async () => {
  const backend = await lenientSmtp({ xclient: true });
  closers.push(backend.close);
  const p = await proxy(`upstreams:\n${pool("mx", [backend.address])}listeners:\n${listener("smtp", "smtp", "mx", ", xclient: true")}`);
  const s = await LineClient.connect(p.port("smtp"), "127.0.0.9");
  await s.line();
  s.write("EHLO client.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<b@d.test>\r\n");
  await s.reply(); await s.reply();
  assert.equal((await s.reply())[0], "250 2.1.5 Ok");
  assert.deepEqual(backend.commands.slice(0, 5), [
    "EHLO px.test", "XCLIENT ADDR=127.0.0.9 PORT=" + s.socket.localPort + " NAME=[UNAVAILABLE] HELO=client.test PROTO=ESMTP",
    "EHLO client.test", "MAIL FROM:<a@c.test>", "RCPT TO:<b@d.test>",
  ]);
  s.write("XCLIENT ADDR=192.0.2.1\r\nXFORWARD ADDR=192.0.2.1\r\nEHLO again.test\r\n");
  assert.equal((await s.reply())[0], "502 5.5.1 Error: command not implemented");
  assert.equal((await s.reply())[0], "502 5.5.1 Error: command not implemented");
  const ehlo = await s.reply();
  assert.deepEqual(ehlo, ["250-fake.test", "250 PIPELINING"]);
  assert.equal(backend.commands.filter((c) => c.includes("192.0.2.1")).length, 0);
  s.close();
});

// --- M07: long lines -----------------------------------------------------------------------------

test("M07: a 1 MiB SMTP line gets 500 5.5.2 and a 70 KiB IMAP line * BAD; the sessions go on; memory stays flat", async () => {
  const p = await proxy(`upstreams:\n${pool("st", [`127.0.0.1:${await closedPort()}`])}listeners:\n` +
    `  - { name: smtp, protocol: smtp, listen: 127.0.0.1:0, upstream: st, hostname: px.test, key: rcpt_domain }\n` +
    `  - { name: imap, protocol: imap, listen: 127.0.0.1:0, upstream: st, hostname: px.test, key: user }\n`);
  const rss0 = process.memoryUsage().rss;
  const s = await LineClient.connect(p.port("smtp"));
  await s.line();
  const chunk = Buffer.alloc(64 * 1024, 0x41);
  for (let i = 0; i < 16; i++) s.write(chunk);
  assert.equal(await s.line(), "500 5.5.2 Error: line too long");
  s.write("\r\nNOOP\r\n");
  assert.equal(await s.line(), "250 2.0.0 Ok");
  const i = await LineClient.connect(p.port("imap"));
  await i.line();
  i.write(`a LOGIN ${"x".repeat(70 * 1024)} pw\r\nb NOOP\r\n`);
  assert.match(await i.line(), /^\* BAD \[TOOBIG\] /);
  assert.equal(await i.line(), "b OK NOOP completed.");
  const grew = process.memoryUsage().rss - rss0;
  assert.ok(grew < 64 * 1024 * 1024, `RSS grew by ${grew} bytes`);
  s.close();
  i.close();
});

// --- M09: IMAP literals --------------------------------------------------------------------------

test("M09: IMAP literals: continuation for {n}, literal bytes are data, {n+} honoured, huge literals refused unbuffered", async () => {
  const backend = await scriptedServer("* OK [CAPABILITY IMAP4rev1 LITERAL+] fake\r\n", (c, chunk) => {
    const all = c.received;
    // answer once the login is complete: tag LOGIN ... with any literals satisfied
    if (/\{\d+\}\r\n$/.test(all)) { c.socket.write("+ go ahead\r\n"); return; }
    if (all.endsWith("\r\n")) {
      const tag = all.split(" ")[0];
      c.socket.write(all.includes("password") ? `${tag} OK Logged in\r\n` : `${tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n`);
    }
  });
  closers.push(backend.close);
  const p = await proxy(`upstreams:\n  st:\n    scheduler: dh\n    servers: [ { address: "${backend.address}" } ]\nlisteners:\n` +
    `  - { name: imap, protocol: imap, listen: 127.0.0.1:0, upstream: st, hostname: px.test, key: user }\n`);

  // refused huge synchronising literal: no continuation, the connection goes on
  const h = await LineClient.connect(p.port("imap"));
  await h.line();
  h.write("x LOGIN {4294967296}\r\n");
  assert.equal(await h.line(), "x BAD [TOOBIG] Literal too big");
  h.write("y NOOP\r\n");
  assert.equal(await h.line(), "y OK NOOP completed.");
  // huge non-synchronising literal: refused and closed (its bytes are never read)
  h.write("z LOGIN {4294967296+}\r\n");
  assert.equal(await h.line(), "z BAD [TOOBIG] Literal too big");
  assert.equal(await h.waitClosed(), true);

  // literal bytes that look like a command are data
  const c = await LineClient.connect(p.port("imap"));
  await c.line();
  c.write("a LOGIN {12}\r\n");
  assert.equal(await c.line(), "+ Ready for literal data");
  c.write("\r\nb LOGOUT\r\n {2+}\r\npw\r\n");
  assert.equal(await c.line(), "a NO [AUTHENTICATIONFAILED] Authentication failed.");
  assert.equal(backend.conns[0].received, 'a LOGIN {12}\r\n\r\nb LOGOUT\r\n "pw"\r\n', "the username travels as a literal, after the server's +");
  await sleep(100);
  assert.ok(!c.received.includes("b OK") && !c.received.includes("* BYE"), c.received);

  // the hardening case as written: {4}, wait for +, then "user {8}", +, "password"
  c.write("d LOGIN {4}\r\n");
  assert.equal(await c.line(), "+ Ready for literal data");
  c.write("user {8}\r\n");
  assert.equal(await c.line(), "+ Ready for literal data");
  c.write("password\r\n");
  assert.equal(await c.line(), "d OK Logged in");
  assert.equal(backend.conns[1].received, 'd LOGIN "user" "password"\r\n');
  c.close();
});

// --- M10: backend dies mid-response -----------------------------------------------------------

test("M10: a server dying mid-FETCH / mid-RETR closes the client; the proxy adds no ')' or '.'", async () => {
  const imapSrv = await scriptedServer("* OK fake\r\n", (c, chunk) => {
    const tag = chunk.split(" ")[0];
    if (/ LOGIN /.test(chunk)) c.socket.write(`${tag} OK Logged in\r\n`);
    else if (/ FETCH /.test(chunk)) { c.socket.write("* 1 FETCH (BODY[] {100}\r\nFrom: a@b\r\n\r\npartial"); c.socket.destroy(); }
  });
  const popSrv = await scriptedServer("+OK fake\r\n", (c, chunk) => {
    if (/^(USER|PASS)/.test(chunk)) c.socket.write("+OK\r\n");
    else if (/^RETR/.test(chunk)) { c.socket.write("+OK 100 octets\r\nFrom: a@b\r\n\r\npartial"); c.socket.destroy(); }
  });
  closers.push(imapSrv.close, popSrv.close);
  const p = await proxy(`upstreams:\n${pool("im", [imapSrv.address])}${pool("po", [popSrv.address])}listeners:\n${listener("imap", "imap", "im")}${listener("pop3", "pop3", "po")}`);
  const i = await LineClient.connect(p.port("imap"));
  await i.line();
  i.write("a LOGIN u p\r\n");
  assert.equal(await i.line(), "a OK Logged in");
  i.write("b FETCH 1 BODY[]\r\n");
  assert.equal(await i.waitClosed(), true);
  assert.equal(i.rest(), "* 1 FETCH (BODY[] {100}\r\nFrom: a@b\r\n\r\npartial");
  const q = await LineClient.connect(p.port("pop3"));
  await q.line();
  q.write("USER u\r\nPASS p\r\n");
  assert.equal(await q.line(), "+OK");
  assert.equal(await q.line(), "+OK");
  q.write("RETR 1\r\n");
  assert.equal(await q.waitClosed(), true);
  assert.equal(q.rest(), "+OK 100 octets\r\nFrom: a@b\r\n\r\npartial");
});

// --- limits ------------------------------------------------------------------------------------

test("max_errors closes the session with the protocol's goodbye; the pre-login timeout too", async () => {
  const p = await proxy(`upstreams:\n${pool("st", [`127.0.0.1:${await closedPort()}`])}listeners:\n` +
    `  - { name: smtp, protocol: smtp, listen: 127.0.0.1:0, upstream: st, hostname: px.test, key: rcpt_domain, max_errors: 3, idle_timeout: 1s }\n` +
    `  - { name: pop3, protocol: pop3, listen: 127.0.0.1:0, upstream: st, hostname: px.test, key: user, max_errors: 2 }\n` +
    `  - { name: imap, protocol: imap, listen: 127.0.0.1:0, upstream: st, hostname: px.test, key: user, idle_timeout: 1s }\n`);
  const s = await LineClient.connect(p.port("smtp"));
  await s.line();
  s.write("FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n");
  assert.equal(await s.line(), "500 5.5.1 Error: command not recognized");
  assert.equal(await s.line(), "500 5.5.1 Error: command not recognized");
  assert.equal(await s.line(), "500 5.5.1 Error: command not recognized");
  assert.equal(await s.line(), "421 4.7.0 px.test Error: too many errors");
  assert.equal(await s.waitClosed(), true);
  const q = await LineClient.connect(p.port("pop3"));
  await q.line();
  q.write("STAT\r\nLIST\r\n");
  assert.equal(await q.line(), "-ERR Invalid command");
  assert.equal(await q.line(), "-ERR Invalid command");
  assert.equal(await q.line(), "-ERR Too many invalid commands, closing");
  assert.equal(await q.waitClosed(), true);
  const t0 = Date.now();
  const i = await LineClient.connect(p.port("imap"));
  await i.line();
  assert.equal(await i.line(3000), "* BYE Disconnected for inactivity");
  assert.equal(await i.waitClosed(), true);
  assert.ok(Date.now() - t0 >= 900 && Date.now() - t0 < 2500, `${Date.now() - t0} ms`);
  const s2 = await LineClient.connect(p.port("smtp"));
  await s2.line();
  assert.equal(await s2.line(3000), "421 4.4.2 px.test Error: timeout exceeded");
});

test("graceful stop: a session still talking to the proxy gets its goodbye at once; a relayed one runs until the deadline", async () => {
  const backend = await scriptedServer("* OK fake\r\n", (c, chunk) => {
    const tag = chunk.split(" ")[0];
    c.socket.write(/ LOGIN /.test(chunk) ? `${tag} OK Logged in\r\n` : `${tag} OK done\r\n`);
  });
  closers.push(backend.close);
  const p = await startProxy(`upstreams:\n${pool("st", [backend.address])}listeners:\n${listener("imap", "imap", "st")}`);
  const idle = await LineClient.connect(p.port("imap"));
  await idle.line();
  const busy = await LineClient.connect(p.port("imap"));
  await busy.line();
  busy.write("a LOGIN u p\r\n");
  assert.equal(await busy.line(), "a OK Logged in");
  const t0 = Date.now();
  const stopped = p.stop(800);
  assert.equal(await idle.line(), "* BYE [UNAVAILABLE] Server shutting down, try again later");
  assert.equal(await idle.waitClosed(1000), true);
  busy.write("b NOOP\r\n");
  assert.equal(await busy.line(), "b OK done", "the relayed session still works while draining");
  await stopped;
  assert.equal(await busy.waitClosed(1000), true);
  assert.ok(Date.now() - t0 >= 700, "closed at the deadline");
});
