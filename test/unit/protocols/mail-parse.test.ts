// Mail parsing helpers: IMAP command fragments and literals, quoting for the replay, SASL PLAIN,
// the login key, xtext for XCLIENT, recipient domains, XCLIENT offers, SMTP reply codes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseFragment, quoted, type ImapToken } from "../../../src/protocols/imap.ts";
import { decodePlain, loginKey, xtext } from "../../../src/protocols/mail-common.ts";
import { addressDomain, replyCode, xclientAttributes } from "../../../src/protocols/smtp.ts";

const texts = (t: ImapToken[]): string[] => t.map((x) => `${x.kind}:${x.value.toString("latin1")}`);

test("IMAP fragment: atoms, quoted strings with escapes, and a trailing literal announcement", () => {
  const t: ImapToken[] = [];
  assert.deepEqual(parseFragment(Buffer.from('a1 LOGIN "al\\"ice" {12}'), t), { kind: "literal", size: 12, sync: true });
  assert.deepEqual(texts(t), ["atom:a1", "atom:LOGIN", 'string:al"ice']);
  const u: ImapToken[] = [];
  assert.deepEqual(parseFragment(Buffer.from("b LOGIN {4+}"), u), { kind: "literal", size: 4, sync: false });
  assert.deepEqual(parseFragment(Buffer.from("x {4294967296}"), []), { kind: "literal", size: 4294967296, sync: true });
  assert.deepEqual(parseFragment(Buffer.from("c NOOP"), []), { kind: "done" });
});

test("IMAP fragment: unterminated strings and malformed literals are errors", () => {
  assert.equal(parseFragment(Buffer.from('a LOGIN "alice'), []).kind, "error");
  assert.equal(parseFragment(Buffer.from("a LOGIN {4} x"), []).kind, "error");
  assert.equal(parseFragment(Buffer.from("a LOGIN {-1}"), []).kind, "error");
});

test("quoted: printable ASCII is quoted with escapes; CR, LF, 8-bit and long values need a literal", () => {
  assert.equal(quoted(Buffer.from('p"w\\d')), '"p\\"w\\\\d"');
  assert.equal(quoted(Buffer.from("a\r\nb LOGOUT")), null);
  assert.equal(quoted(Buffer.from("pässword", "utf8")), null);
  assert.equal(quoted(Buffer.alloc(1001, 0x61)), null);
});

test("SASL PLAIN: authzid, authcid, password; malformed input is refused; the key prefers authzid", () => {
  const c = decodePlain(Buffer.from("\0Alice \0alice-pw").toString("base64"));
  assert.ok(c !== null);
  assert.equal(c.user.toString(), "Alice ");
  assert.equal(c.pass.toString(), "alice-pw");
  assert.equal(loginKey(c), "alice");
  const z = decodePlain(Buffer.from("Bob\0admin\0pw").toString("base64"));
  assert.ok(z !== null);
  assert.equal(loginKey(z), "bob");
  assert.equal(decodePlain("not base64!"), null);
  assert.equal(decodePlain(Buffer.from("no-nuls").toString("base64")), null);
  assert.equal(decodePlain(Buffer.from("a\0\0pw").toString("base64")), null);
  assert.equal(decodePlain(Buffer.from("a\0b\0c\0d").toString("base64")), null);
});

test("xtext: + = space and control characters are hex-escaped", () => {
  assert.equal(xtext("mx.example.com"), "mx.example.com");
  assert.equal(xtext("a+b=c d\r\n"), "a+2Bb+3Dc+20d+0D+0A");
});

test("recipient domain: lower-case A-label; none for local parts; source routes skipped", () => {
  assert.equal(addressDomain("Bob@Example.ORG"), "example.org");
  assert.equal(addressDomain("user@bücher.example"), "xn--bcher-kva.example");
  assert.equal(addressDomain("postmaster"), "");
  assert.equal(addressDomain("@relay.example:joe@Dest.example"), "dest.example");
  assert.equal(addressDomain("x@[192.0.2.1]"), "[192.0.2.1]");
});

test("SMTP replies: code of the last line; XCLIENT attributes from an EHLO reply", () => {
  assert.equal(replyCode([Buffer.from("250-a"), Buffer.from("250 b")]), 250);
  assert.equal(replyCode([Buffer.from("xx")]), 0);
  const ehlo = ["250-sink", "250-PIPELINING", "250-XCLIENT NAME ADDR PORT HELO", "250 8BITMIME"].map((s) => Buffer.from(s));
  assert.deepEqual([...(xclientAttributes(ehlo) ?? [])], ["NAME", "ADDR", "PORT", "HELO"]);
  assert.equal(xclientAttributes([Buffer.from("250 sink")]), null);
});
