#!/usr/bin/env node
// The `switchyard` command (package.json "bin"; `npx switchyard`). The npm package ships the
// JavaScript built at pack time in dist/ (Node strips TypeScript types only outside node_modules);
// a source checkout has src/ and runs the TypeScript directly, so it never runs a stale build.
// Node older than 22.18 is refused here with a message, before anything else loads: it lacks
// import.meta.main (cluster workers) and is past its end of life; package.json "engines" says the same.
import { existsSync } from "node:fs";

const MIN = [22, 18];
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < MIN[0] || (major === MIN[0] && minor < MIN[1])) {
  process.stderr.write(`switchyard needs Node.js ${MIN.join(".")} or later; this is ${process.version}\n`);
  process.exit(1);
}
const src = new URL("../src/main.ts", import.meta.url);
await import(existsSync(src) ? src.href : new URL("../dist/main.js", import.meta.url).href);
