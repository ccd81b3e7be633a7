// smtp-data.ts: only CRLF.CRLF ends DATA; bare LF / bare CR become CRLF and a dot after them is
// stuffed, so the smuggling variants (\n.\r\n, \n.\n, \r\n.\n, \r.\r\n) stay message text for any
// server, strict or lenient; the result is the same however the bytes are split into chunks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DataFilter } from "../../../src/protocols/smtp-data.ts";

/** Runs input through a filter in the given chunk sizes; returns output, done and rest. */
function run(input: string, sizes: readonly number[] = [input.length]): { out: string; done: boolean; rest: string } {
  const f = new DataFilter();
  const b = Buffer.from(input, "latin1");
  let out = "";
  let pos = 0;
  let k = 0;
  while (pos < b.length) {
    const n = Math.max(1, sizes[k++ % sizes.length]);
    const r = f.feed(b.subarray(pos, pos + n));
    out += Buffer.concat(r.out).toString("latin1");
    pos += n;
    if (r.done) return { out, done: true, rest: r.rest.toString("latin1") + b.subarray(pos).toString("latin1") };
  }
  return { out, done: false, rest: "" };
}

/** Where a server that ends DATA at <LF>.<LF>-style lines (any of CR/LF as line end) would stop: its index or -1. */
function lenientEnd(out: string): number {
  const s = `\n${out}`;
  const m = /[\r\n]\.(\r\n|\n|\r)/.exec(s);
  return m === null ? -1 : m.index;
}

const cases: [string, string, string, string][] = [
  ["plain message", "Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n", "Subject: x\r\n\r\nhello\r\n.\r\n", "QUIT\r\n"],
  ["empty message", ".\r\n", ".\r\n", ""],
  ["dot-stuffed line passes as sent", "a\r\n..x\r\n.\r\n", "a\r\n..x\r\n.\r\n", ""],
  ["\\n.\\r\\n is text", "a\n.\r\nMAIL FROM:<x>\r\n.\r\n", "a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n", ""],
  ["\\n.\\n is text", "a\n.\nMAIL FROM:<x>\r\n.\r\n", "a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n", ""],
  ["\\r\\n.\\n is text", "a\r\n.\nMAIL FROM:<x>\r\n.\r\n", "a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n", ""],
  ["\\r.\\r\\n is text", "a\r.\r\nMAIL FROM:<x>\r\n.\r\n", "a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n", ""],
  ["\\r\\n.\\r (bare CR) is text", "a\r\n.\rMAIL\r\n.\r\n", "a\r\n..\r\nMAIL\r\n.\r\n", ""],
  ["bare LF lines become CRLF", "l1\nl2\n\n.x\r\n.\r\n", "l1\r\nl2\r\n\r\n..x\r\n.\r\n", ""],
];

for (const [name, input, out, rest] of cases) {
  test(`DATA: ${name}`, () => {
    for (const sizes of [[input.length], [1], [2], [3], [1, 4], [7]]) {
      const r = run(input, sizes);
      assert.equal(r.done, true, `chunks ${sizes.join(",")}`);
      assert.equal(r.out, out, `chunks ${sizes.join(",")}`);
      assert.equal(r.rest, rest, `chunks ${sizes.join(",")}`);
    }
  });
}

test("DATA: no end without CRLF.CRLF; pending CR / dot are held, not lost", () => {
  const r = run("x\r\n.\r");
  assert.equal(r.done, false);
  assert.equal(r.out, "x\r\n");
  const f = new DataFilter();
  assert.equal(Buffer.concat(f.feed(Buffer.from("x\r")).out).toString(), "x");
  const r2 = f.feed(Buffer.from("\n.\r\nNOOP\r\n"));
  assert.equal(Buffer.concat(r2.out).toString(), "\r\n.\r\n");
  assert.equal(r2.done, true);
  assert.equal(r2.rest.toString(), "NOOP\r\n");
});

test("DATA fuzz: output is CRLF-only, and strict and lenient servers both end exactly where the proxy does", () => {
  let seed = 12345;
  const rnd = (n: number): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
  const alphabet = ["a", ".", "\r", "\n", "\r\n", "\r\n.", "\n."];
  for (let iter = 0; iter < 3000; iter++) {
    let input = "";
    const len = 1 + rnd(12);
    for (let i = 0; i < len; i++) input += alphabet[rnd(alphabet.length)];
    input += "\r\n.\r\nTAIL";
    const whole = run(input);
    const split = run(input, [1 + rnd(3), 1 + rnd(5)]);
    assert.deepEqual(split, whole, JSON.stringify(input));
    assert.equal(whole.done, true, JSON.stringify(input));
    const body = whole.out;
    assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(body), `bare CR/LF in ${JSON.stringify(body)} from ${JSON.stringify(input)}`);
    const strict = `\r\n${body}`.indexOf("\r\n.\r\n");
    assert.equal(strict, body.length - 3, `strict end in ${JSON.stringify(body)} from ${JSON.stringify(input)}`);
    assert.equal(lenientEnd(body), body.length - 3, `lenient end in ${JSON.stringify(body)} from ${JSON.stringify(input)}`);
  }
});
