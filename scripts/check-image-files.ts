// Checks, without a container engine, that the Dockerfile ships exactly the npm package:
// 1. the final stage copies only the build stage's /app, and the build stage fills /app from the
//    tarball `npm pack` makes (so the image holds the package's files plus its production
//    node_modules and package-lock.json, nothing else);
// 2. every file of `npm pack --dry-run` that is not built (dist/) reaches the build stage: some
//    COPY names it and .dockerignore does not drop it; every COPY source exists and is not ignored
//    (else `docker build` stops with "not found");
// 3. it replays the build stage on the context docker would send (the COPY sources, filtered by
//    .dockerignore, with this checkout's node_modules standing in for `npm ci`): build-dist, then
//    npm pack, and compares the tarball's file list with the repository's own `npm pack` list.
// Usage: node scripts/check-image-files.ts   (exit 0, or 1 with every difference on stderr)
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";

const root = path.resolve(import.meta.dirname, "..");
const problems: string[] = [];

interface Copy { readonly from: string | null; readonly sources: readonly string[]; readonly dest: string }
interface Stage { readonly name: string | null; readonly copies: Copy[]; readonly runs: string[] }

/** Dockerfile instructions with continuations joined and comments dropped. */
function instructions(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (cur === "" && (line === "" || line.startsWith("#"))) continue;
    if (line.endsWith("\\")) { cur += `${line.slice(0, -1)} `; continue; }
    out.push(cur + line);
    cur = "";
  }
  if (cur !== "") out.push(cur);
  return out;
}

function stages(text: string): Stage[] {
  const out: Stage[] = [];
  for (const ins of instructions(text)) {
    const [word, ...rest] = ins.split(/\s+/);
    const kw = word.toUpperCase();
    if (kw === "FROM") {
      const as = rest.findIndex((w) => w.toUpperCase() === "AS");
      out.push({ name: as >= 0 ? rest[as + 1] : null, copies: [], runs: [] });
    } else if (kw === "COPY" || kw === "ADD") {
      const st = out.at(-1);
      if (st === undefined) { problems.push(`${kw} before FROM`); continue; }
      const args = rest.filter((w) => !w.startsWith("--"));
      const from = rest.find((w) => w.startsWith("--from="))?.slice(7) ?? null;
      st.copies.push({ from, sources: args.slice(0, -1), dest: args.at(-1) ?? "" });
      if (kw === "ADD") problems.push(`ADD ${args.join(" ")}: use COPY`);
    } else if (kw === "RUN") {
      out.at(-1)?.runs.push(rest.join(" "));
    }
  }
  return out;
}

/** .dockerignore patterns as regular expressions (Go filepath.Match plus "**"; "!" re-includes). */
function ignoreRules(): { re: RegExp; negate: boolean }[] {
  const file = path.join(root, ".dockerignore");
  if (!fs.existsSync(file)) return [];
  const rules: { re: RegExp; negate: boolean }[] = [];
  for (const raw of fs.readFileSync(file, "utf8").split("\n")) {
    let p = raw.trim();
    if (p === "" || p.startsWith("#")) continue;
    const negate = p.startsWith("!");
    if (negate) p = p.slice(1);
    p = path.posix.normalize(p).replace(/^\/+/, "").replace(/\/+$/, "");
    let re = "";
    for (let i = 0; i < p.length; i++) {
      const c = p[i];
      if (c === "*" && p[i + 1] === "*") { re += ".*"; i++; if (p[i + 1] === "/") i++; }
      else if (c === "*") re += "[^/]*";
      else if (c === "?") re += "[^/]";
      else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
    }
    // a pattern that names a directory drops everything below it
    rules.push({ re: new RegExp(`^${re}(/.*)?$`), negate });
  }
  return rules;
}

const rules = ignoreRules();
function ignored(rel: string): boolean {
  let out = false;
  for (const r of rules) if (r.re.test(rel)) out = !r.negate;
  return out;
}

/** Files (relative, posix) under a context path, recursively; [] if it does not exist. */
function filesUnder(rel: string): string[] {
  const abs = path.join(root, rel);
  if (!fs.existsSync(abs)) return [];
  if (!fs.statSync(abs).isDirectory()) return [path.posix.normalize(rel)];
  return fs.readdirSync(abs, { recursive: true, encoding: "utf8" })
    .map((f) => path.posix.join(path.posix.normalize(rel).replace(/\/$/, ""), f.split(path.sep).join("/")))
    .filter((f) => fs.statSync(path.join(root, f)).isFile());
}

function packList(cwd: string, dryRun: boolean): string[] {
  const out = execFileSync("npm", ["pack", "--json", "--ignore-scripts", ...(dryRun ? ["--dry-run"] : ["--pack-destination", cwd])], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const parsed: unknown = JSON.parse(out);
  if (!Array.isArray(parsed) || parsed.length !== 1) throw new Error(`unexpected npm pack output: ${out.slice(0, 200)}`);
  const files: unknown = (parsed[0] as { files?: unknown }).files;
  if (!Array.isArray(files)) throw new Error("npm pack --json gave no files");
  return files.map((f) => String((f as { path: unknown }).path)).sort();
}

// --- 1. stage shape
const all = stages(fs.readFileSync(path.join(root, "Dockerfile"), "utf8"));
const build = all.find((s) => s.name === "build");
const final = all.at(-1);
if (build === undefined || final === undefined || final === build) {
  problems.push("expected a stage named build and a final stage after it");
} else {
  const wrong = final.copies.filter((c) => c.from !== "build" || c.sources.join(" ") !== "/app" || c.dest !== "/app");
  for (const c of wrong) problems.push(`final stage copies ${c.sources.join(" ")} -> ${c.dest}${c.from === null ? " from the context" : ` from ${c.from}`}: it should take only /app from the build stage`);
  if (final.copies.length === 0) problems.push("final stage copies nothing from the build stage");
  const packs = build.runs.some((r) => /build-dist\.ts/.test(r) && /npm pack/.test(r) && /tar -xzf \S*switchyard-\*\.tgz -C \/app/.test(r));
  if (!packs) problems.push("the build stage should run build-dist.ts, npm pack, and extract the tarball into /app");
}

// --- 2. every packed file reaches the build stage
const repoList = packList(root, true);
const copied = new Set<string>();
for (const c of build?.copies ?? []) {
  if (c.from !== null) continue;
  for (const src of c.sources) {
    const files = filesUnder(src).filter((f) => !ignored(f));
    if (files.length === 0) problems.push(`COPY ${src}: missing from the build context${ignored(path.posix.normalize(src)) ? " (.dockerignore drops it)" : ""}`);
    for (const f of files) copied.add(f);
  }
}
for (const f of repoList) {
  if (f.startsWith("dist/")) continue; // built in the stage
  if (!copied.has(f)) problems.push(`${f} is in the npm package but no COPY brings it into the build stage${ignored(f) ? " (.dockerignore drops it)" : ""}`);
}

// --- 3. replay the build stage on the filtered context and compare the tarballs' lists
const ctx = fs.mkdtempSync(path.join(os.tmpdir(), "sy-image-"));
let imageList: string[] = [];
try {
  for (const f of copied) {
    fs.mkdirSync(path.dirname(path.join(ctx, f)), { recursive: true });
    fs.copyFileSync(path.join(root, f), path.join(ctx, f));
  }
  fs.symlinkSync(path.join(root, "node_modules"), path.join(ctx, "node_modules"));
  try {
    execFileSync(process.execPath, [path.join(ctx, "scripts", "build-dist.ts")], { cwd: ctx, stdio: ["ignore", "ignore", "inherit"] });
  } catch {
    throw new Error("build-dist.ts failed on the build stage's context (see above)");
  }
  imageList = packList(ctx, false);
  const built = new Set(fs.readdirSync(path.join(ctx, "dist"), { recursive: true, encoding: "utf8" }).map((f) => `dist/${f.split(path.sep).join("/")}`));
  // the repository's list without its dist/ (which may be stale or absent), plus what the stage built
  const expected = [...new Set([...repoList.filter((f) => !f.startsWith("dist/")), ...[...built].filter((f) => f.endsWith(".js"))])].sort();
  const missing = expected.filter((f) => !imageList.includes(f));
  const extra = imageList.filter((f) => !expected.includes(f));
  for (const f of missing) problems.push(`the image's package lacks ${f}`);
  for (const f of extra) problems.push(`the image's package has ${f}, which npm pack of the repository does not`);
} catch (err) {
  problems.push((err as Error).message);
} finally {
  fs.rmSync(ctx, { recursive: true, force: true });
}

if (problems.length > 0) {
  process.stderr.write(`check-image-files: ${problems.length} problem(s)\n  ${problems.join("\n  ")}\n`);
  process.exit(1);
}
process.stdout.write(`check-image-files: ok: the image gets the ${imageList.length} files of the npm package (${imageList.filter((f) => !f.startsWith("dist/")).join(", ")} and dist/**) plus production node_modules\n`);
