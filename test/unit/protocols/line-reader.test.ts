// line-reader.ts: lines split at LF with CR stripped, limits counted with the line end, over-long
// lines reported once and skipped to their LF, literals by byte count, nothing held past the limit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LineReader, type LineRead } from "../../../src/protocols/line-reader.ts";

function all(r: LineReader): string[] {
  const out: string[] = [];
  for (let x: LineRead | null = r.nextLine(); x !== null; x = r.nextLine()) {
    out.push(x.kind === "line" ? `${x.line.toString("latin1")}${x.crlf ? "" : "<LF>"}` : "<TOO-LONG>");
  }
  return out;
}

test("lines end at LF; CRLF is stripped, a bare LF is flagged", () => {
  const r = new LineReader(100);
  r.push(Buffer.from("EHLO a\r\nNOOP\nQUI"));
  assert.deepEqual(all(r), ["EHLO a", "NOOP<LF>"]);
  r.push(Buffer.from("T\r\n"));
  assert.deepEqual(all(r), ["QUIT"]);
  assert.equal(r.buffered, 0);
});

test("a line split across many chunks, byte by byte, comes out whole", () => {
  const r = new LineReader(100);
  const text = "a LOGIN alice secret\r\nb NOOP\r\n";
  const got: string[] = [];
  for (const ch of Buffer.from(text)) {
    r.push(Buffer.from([ch]));
    got.push(...all(r));
  }
  assert.deepEqual(got, ["a LOGIN alice secret", "b NOOP"]);
});

test("the limit counts the CRLF: limit-2 characters pass, limit-1 do not", () => {
  const r = new LineReader(10);
  r.push(Buffer.from(`${"x".repeat(8)}\r\n${"y".repeat(9)}\r\nok\r\n`));
  assert.deepEqual(all(r), ["x".repeat(8), "<TOO-LONG>", "ok"]);
});

test("an over-long line without LF is reported once, dropped up to its LF, and the next line is read", () => {
  const r = new LineReader(512);
  let reports = 0;
  for (let i = 0; i < 1024; i++) {            // 1 MiB in 1 KiB chunks, no LF
    r.push(Buffer.alloc(1024, 0x41));
    for (let x = r.nextLine(); x !== null; x = r.nextLine()) {
      assert.equal(x.kind, "too-long");
      reports++;
    }
    assert.ok(r.buffered <= 512 + 1024, `buffered ${r.buffered} after chunk ${i}`);
  }
  assert.equal(reports, 1);
  assert.equal(r.discarding, true);
  r.push(Buffer.from("AAAA\r\nNOOP\r\n"));
  assert.deepEqual(all(r), ["NOOP"]);
  assert.equal(r.discarding, false);
});

test("nextBytes takes an exact count (an IMAP literal) including CR and LF bytes", () => {
  const r = new LineReader(100);
  r.push(Buffer.from("ab\r\nb LOGOUT\r\nrest\r\n"));
  assert.equal(r.nextBytes(21), null);
  const lit = r.nextBytes(14);
  assert.equal(lit?.toString(), "ab\r\nb LOGOUT\r\n");
  assert.deepEqual(all(r), ["rest"]);
});

test("take() hands over everything buffered; clear() drops it (STARTTLS)", () => {
  const r = new LineReader(100);
  r.push(Buffer.from("STARTTLS\r\nRSET\r\nMAIL FROM:<x>"));
  assert.deepEqual(all(r).slice(0, 1), ["STARTTLS"]);
  r.clear();
  assert.equal(r.buffered, 0);
  assert.equal(r.nextLine(), null);
  r.push(Buffer.from("DATA\r\npartial"));
  assert.equal(r.take().toString(), "DATA\r\npartial");
  assert.equal(r.buffered, 0);
});
