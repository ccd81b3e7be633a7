// units.ts: durations, sizes and addresses as users write them (config.md "File shape").
import { test } from "node:test";
import assert from "node:assert/strict";
import { LISTEN_ADDRESS, PEER_ADDRESS, parseAddress, parseDuration, parseSize } from "../../../src/config/units.ts";

function value<T>(r: { ok: true; value: T } | { ok: false; message: string }): T {
  assert.ok(r.ok, r.ok ? "" : r.message);
  return r.value;
}
function message(r: { ok: true } | { ok: false; message: string }): string {
  assert.ok(!r.ok, "expected a failure");
  return r.message;
}

test("durations: ms s m h d, sums and decimals, in milliseconds", () => {
  const cases: [string, number][] = [
    ["250ms", 250], ["2s", 2000], ["1m", 60_000], ["1h", 3_600_000], ["1d", 86_400_000],
    ["1m30s", 90_000], ["1h30m", 5_400_000], ["1.5s", 1500], ["0", 0], ["0s", 0], [" 5s ", 5000], ["300s", 300_000],
  ];
  for (const [text, ms] of cases) assert.equal(value(parseDuration(text)), ms, text);
  assert.equal(value(parseDuration(0)), 0);
});

test("durations: a bare number is refused (seconds or milliseconds?) and the message suggests both", () => {
  assert.match(message(parseDuration(5)), /5ms or 5s/);
  assert.match(message(parseDuration("30")), /30ms or 30s/);
});

test("durations: nonsense, upper case, repeated units, fractions of a ms and huge values are refused", () => {
  for (const bad of ["", "fast", "2S", "5 s", "1s1s", "0.5ms", "-1s", "1w", "9999999h"]) {
    assert.equal(parseDuration(bad).ok, false, bad);
  }
});

test("sizes: b kb mb gb (case-insensitive, 1024-based) and bare bytes", () => {
  const cases: [string | number, number][] = [
    ["64kb", 65_536], ["10mb", 10_485_760], ["1gb", 1_073_741_824], ["512b", 512], ["512", 512],
    ["64KB", 65_536], ["10MB", 10_485_760], ["1k", 1024], ["2MiB", 2_097_152], ["1.5kb", 1536], [4096, 4096], ["0", 0],
  ];
  for (const [text, bytes] of cases) assert.equal(value(parseSize(text)), bytes, String(text));
});

test("sizes: unknown units, fractions of a byte and negatives are refused", () => {
  assert.match(message(parseSize("10tb")), /unknown size unit "tb"/);
  for (const bad of ["", "lots", "0.3b", "-1kb", "1.5"]) assert.equal(parseSize(bad).ok, false, bad);
  assert.equal(parseSize(-1).ok, false);
  assert.equal(parseSize(1.5).ok, false);
});

test("addresses: host:port, [v6]:port and :port keep the text as written", () => {
  assert.deepEqual(value(parseAddress("127.0.0.1:9001", PEER_ADDRESS)), { host: "127.0.0.1", port: 9001, text: "127.0.0.1:9001" });
  assert.deepEqual(value(parseAddress("[::1]:8080", LISTEN_ADDRESS)), { host: "::1", port: 8080, text: "[::1]:8080" });
  assert.deepEqual(value(parseAddress(":8080", LISTEN_ADDRESS)), { host: "", port: 8080, text: ":8080" });
  assert.deepEqual(value(parseAddress("db.internal:3306", PEER_ADDRESS)), { host: "db.internal", port: 3306, text: "db.internal:3306" });
  assert.deepEqual(value(parseAddress("[fe80::1%eth0]:80", PEER_ADDRESS)), { host: "fe80::1%eth0", port: 80, text: "[fe80::1%eth0]:80" });
});

test("addresses: listeners may use port 0 and :port, servers may not", () => {
  assert.equal(value(parseAddress("127.0.0.1:0", LISTEN_ADDRESS)).port, 0);
  assert.match(message(parseAddress("127.0.0.1:0", PEER_ADDRESS)), /out of range 1\.\.65535/);
  assert.match(message(parseAddress(":9001", PEER_ADDRESS)), /no host/);
});

test("addresses: missing or bad ports, unbracketed IPv6 and bad hosts are refused with a hint", () => {
  assert.match(message(parseAddress("127.0.0.1", PEER_ADDRESS)), /no port/);
  assert.match(message(parseAddress("127.0.0.1:65536", PEER_ADDRESS)), /out of range/);
  assert.match(message(parseAddress("127.0.0.1:http", PEER_ADDRESS)), /not a port number/);
  assert.match(message(parseAddress("::1:8080", PEER_ADDRESS)), /\[::1\]:8080/);
  assert.match(message(parseAddress("[::1:8080", PEER_ADDRESS)), /without closing/);
  assert.match(message(parseAddress("[nothex]:80", PEER_ADDRESS)), /not an IPv6 address/);
  assert.match(message(parseAddress("bad host:80", PEER_ADDRESS)), /not a host name/);
  assert.match(message(parseAddress("", PEER_ADDRESS)), /empty/);
});

test("addresses: a default port fills in when allowed (the DNS resolver's 53)", () => {
  const r = value(parseAddress("127.0.0.53", { allowAnyHost: false, allowPortZero: false, defaultPort: 53 }));
  assert.equal(r.port, 53);
  assert.equal(r.host, "127.0.0.53");
});
