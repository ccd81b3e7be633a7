// Host checks of the parser front (src/protocols/http/front.ts): validHost and routingHost remember the
// last value they were asked about; asked again, or asked in turns, they must still answer each value
// for itself.
import { test } from "node:test";
import assert from "node:assert/strict";
import { routingHost, validHost } from "../../../src/protocols/http/front.ts";

test("validHost: valid and invalid values in turns, each answered for itself", () => {
  const cases: [string, boolean][] = [
    ["example.com", true], ["example.com", true], ["", false], ["a b", false], ["example.com:8080", true],
    ["user@example.com", false], ["[::1]:443", true], ["example.com", true], ["", false], ["exa mple.com", false],
    ["127.0.0.1:19302", true], ["127.0.0.1:123456", false], ["127.0.0.1:19302", true],
  ];
  for (let round = 0; round < 2; round++) {
    for (const [v, ok] of cases) assert.equal(validHost(v), ok, JSON.stringify(v));
  }
});

test("routingHost: lower case, no port, brackets kept, the same answer when asked twice", () => {
  const cases: [string, string][] = [
    ["Example.COM:8080", "example.com"], ["Example.COM:8080", "example.com"], ["example.com", "example.com"],
    ["[::1]:443", "[::1]"], ["[::1]", "[::1]"], ["API.example.com", "api.example.com"], ["Example.COM:8080", "example.com"],
  ];
  for (let round = 0; round < 2; round++) {
    for (const [v, want] of cases) assert.equal(routingHost(v), want, JSON.stringify(v));
  }
});
