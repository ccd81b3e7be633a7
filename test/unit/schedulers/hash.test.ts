// hash.ts: key32 forms, the hash_32 bucket, FNV-1a and MurmurHash3 against published values.
import { test } from "node:test";
import assert from "node:assert/strict";
import { bucket8, clientTemplateKey, fnv1a32, key32, murmur3Word, parseIPv4 } from "../../../src/schedulers/hash.ts";

const fnvReference = (s: string): number => {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) h = Math.imul(h ^ b, 0x01000193);
  return h >>> 0;
};

test("key32: IPv4 is the address as a number; IPv4-mapped IPv6 hashes as IPv4", () => {
  assert.equal(key32("10.0.0.1"), 0x0a000001);
  assert.equal(key32("255.255.255.255"), 0xffffffff);
  assert.equal(key32("0.0.0.0"), 0);
  assert.equal(key32("::ffff:10.0.0.1"), 0x0a000001);
  assert.equal(key32("::FFFF:0a00:0001"), 0x0a000001);
});

test("key32: IPv6 is the XOR of its four words, with :: compression, zones and IPv4 tails", () => {
  assert.equal(key32("1:2:3:4:5:6:7:8"), ((0x10002 ^ 0x30004 ^ 0x50006 ^ 0x70008) >>> 0));
  assert.equal(key32("2001:db8::1"), 0x20010db9);
  assert.equal(key32("::1"), 1);
  assert.equal(key32("::"), 0);
  assert.equal(key32("fe80::1%eth0"), 0xfe800001);
  assert.equal(key32("64:ff9b::192.0.2.1"), (0x0064ff9b ^ 0xc0000201) >>> 0);
});

test("key32: anything else is FNV-1a 32 of its UTF-8 bytes; null is 0", () => {
  for (const k of ["example.com/index.html", "10.0.0.256", "1.2.3", "1:2:3", "1:::2", "01.2.3.4", "é€😀", "a\ud800"]) {
    assert.equal(key32(k), fnvReference(k), k);
  }
  assert.equal(key32(null), 0);
  assert.equal(fnv1a32(""), 0x811c9dc5);
  assert.equal(fnv1a32("a"), 0xe40c292c);
  assert.equal(fnv1a32("foobar"), 0xbf9cf968);
});

test("parseIPv4 rejects partial and padded forms", () => {
  for (const bad of ["", "1.2.3", "1.2.3.4.", "1.2.3.4.5", "256.1.1.1", " 1.2.3.4", "1..2.3", "1.2.3.04"]) {
    assert.equal(parseIPv4(bad, 0, bad.length), -1, JSON.stringify(bad));
  }
});

test("bucket8 is hash_32(key, 8): every bit counts", () => {
  assert.equal(bucket8(0x0a000002), 137);
  assert.equal(bucket8(0x0a000101), 240);
  assert.notEqual(bucket8(0x0a000001), bucket8(0x0b000001));
});

test("murmur3Word matches the MurmurHash3 x86_32 reference values", () => {
  assert.equal(murmur3Word(0x87654321, 0), 0xf55b516b);
  assert.equal(murmur3Word(0x87654321, 0x5082edee), 0x2362f9de);
  assert.equal(murmur3Word(0, 0), 0x2362f9de);
});

test("clientTemplateKey masks IPv4 and keys IPv6 whole", () => {
  assert.equal(clientTemplateKey("10.1.2.3", 24), 0x0a010200);
  assert.equal(clientTemplateKey("::ffff:10.1.2.99", 24), 0x0a010200);
  assert.equal(clientTemplateKey("10.1.2.3", 32), 0x0a010203);
  assert.equal(clientTemplateKey("10.1.2.3", 0), 0);
  assert.equal(clientTemplateKey("2001:DB8::1", 24), clientTemplateKey("2001:db8:0:0:0:0:0:1", 24));
  assert.notEqual(clientTemplateKey("2001:db8::1", 24), clientTemplateKey("2001:db8::2", 24));
});
