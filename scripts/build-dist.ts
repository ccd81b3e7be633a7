// Builds the JavaScript the npm package runs: `npm pack` / `npm publish` call it as `prepack`.
// Node strips types only outside node_modules, so an installed package must ship .js: tsc emits
// src/**/*.ts to dist/**/*.js (tsconfig.build.json; rewriteRelativeImportExtensions turns
// "./x.ts" into "./x.js"), then this script checks that no emitted import still names a .ts file.
// Usage: node scripts/build-dist.ts   (exit 0, or 1 with the reason on stderr)
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";

const root = path.resolve(import.meta.dirname, "..");
const dist = path.join(root, "dist");
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");

function fail(msg: string): never {
  process.stderr.write(`build-dist: ${msg}\n`);
  process.exit(1);
}

if (!fs.existsSync(tsc)) fail(`${tsc} is missing: run npm install (typescript is a dev dependency)`);
fs.rmSync(dist, { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json")], { cwd: root, stdio: "inherit" });
if (r.status !== 0) fail(`tsc failed (exit ${r.status ?? r.signal})`);

// every relative import must now end in .js and name a file that exists
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g;
let files = 0;
const bad: string[] = [];
for (const f of fs.readdirSync(dist, { recursive: true, encoding: "utf8" })) {
  if (!f.endsWith(".js")) continue;
  files++;
  const file = path.join(dist, f);
  const text = fs.readFileSync(file, "utf8");
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1];
    if (!spec.endsWith(".js") || !fs.existsSync(path.resolve(path.dirname(file), spec))) bad.push(`${path.join("dist", f)}: ${spec}`);
  }
}
if (files === 0) fail("tsc emitted nothing");
if (bad.length > 0) fail(`imports that will not resolve in the package:\n  ${bad.join("\n  ")}`);
fs.chmodSync(path.join(dist, "main.js"), 0o755);
process.stdout.write(`build-dist: ${files} files in dist/\n`);
