// The combined access line: nginx's `combined` format field for field (so log tools that parse
// nginx's lines parse ours), $time_local as nginx writes it, nginx's escaping, and the upstream
// fields after it; the JSON record keeps the names nginx users grep for.
import { test } from "node:test";
import assert from "node:assert/strict";
import { combinedLine, escapeField, timeLocal, type HttpAccess } from "../../../src/observability/access-log.ts";

/** The usual parser of nginx's combined format (what GoAccess/awk recipes use), plus our suffix. */
const COMBINED = /^(\S+) - (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)" rt=(\d+\.\d{3}) ua="([^"]*)" us="([^"]*)" urt="([^"]*)"$/;

const record: HttpAccess = {
  remote_addr: "203.0.113.9", method: "GET", uri: "/a/b?c=1", host: "example.com", server_protocol: "HTTP/1.1",
  http_referer: "https://example.com/start", http_user_agent: "curl/8.5.0",
  status: 200, bytes_sent: 512, bytes_received: 80, upstream: "web", upstream_addr: "127.0.0.1:9001", upstream_status: 200,
  upstream_response_time: 0.012, request_time: 0.015, error: null, tries: 1,
};

test("$time_local is nginx's: dd/Mon/yyyy:HH:MM:SS +hhmm, local time", () => {
  const tz = process.env.TZ;
  try {
    process.env.TZ = "America/Los_Angeles";
    // nginx's documentation example instant
    assert.equal(timeLocal(Date.UTC(2000, 9, 10, 20, 55, 36)), "10/Oct/2000:13:55:36 -0700");
    process.env.TZ = "Asia/Kolkata";
    assert.equal(timeLocal(Date.UTC(2024, 0, 2, 3, 4, 5)), "02/Jan/2024:08:34:05 +0530");
    process.env.TZ = "UTC";
    assert.equal(timeLocal(Date.UTC(2024, 11, 31, 23, 59, 59, 999)), "31/Dec/2024:23:59:59 +0000");
  } finally {
    if (tz === undefined) delete process.env.TZ; else process.env.TZ = tz;
  }
});

test("a combined line parses with nginx's combined pattern, field for field", () => {
  const line = combinedLine(record, Date.UTC(2024, 5, 1, 12, 0, 0));
  const m = COMBINED.exec(line);
  assert.ok(m !== null, line);
  assert.equal(m[1], "203.0.113.9");
  assert.equal(m[2], "-");
  assert.match(m[3], /^01\/Jun\/2024:\d\d:\d\d:00 [+-]\d{4}$/);
  assert.equal(m[4], "GET /a/b?c=1 HTTP/1.1");
  assert.equal(m[5], "200");
  assert.equal(m[6], "512");
  assert.equal(m[7], "https://example.com/start");
  assert.equal(m[8], "curl/8.5.0");
  assert.equal(m[9], "0.015");
  assert.equal(m[10], "127.0.0.1:9001");
  assert.equal(m[11], "200");
  assert.equal(m[12], "0.012");
});

test("missing values are '-', as nginx writes them", () => {
  const line = combinedLine({ ...record, http_referer: null, http_user_agent: null, upstream_addr: null, upstream_status: null, upstream_response_time: null, status: 503, bytes_sent: 0 }, Date.now());
  const m = COMBINED.exec(line);
  assert.ok(m !== null, line);
  assert.deepEqual([m[5], m[6], m[7], m[8], m[10], m[11], m[12]], ["503", "0", "-", "-", "-", "-", "-"]);
});

test("quotes, backslashes, control bytes and non-ASCII are escaped as \\xHH", () => {
  assert.equal(escapeField("plain text/1.0"), "plain text/1.0");
  assert.equal(escapeField("a\"b"), "a\\x22b");
  assert.equal(escapeField("a\\b"), "a\\x5Cb");
  assert.equal(escapeField("tab\there\n"), "tab\\x09here\\x0A");
  assert.equal(escapeField("café"), "caf\\xC3\\xA9");
  const line = combinedLine({ ...record, http_user_agent: "evil\" \"injected", uri: "/\"x" }, Date.now());
  const m = COMBINED.exec(line);
  assert.ok(m !== null, line);
  assert.equal(m[8], "evil\\x22 \\x22injected");
  assert.equal(m[4], "GET /\\x22x HTTP/1.1");
});
