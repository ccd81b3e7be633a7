// The three things the command line does: run, check (-t), signal (-s).
import { fs } from "../core/builtins.ts";
import path from "node:path";
import type { CliOptions } from "./args.ts";
import { USAGE } from "./args.ts";
import { loadConfig, loadConfigText, formatError, type LoadResult } from "../config/load.ts";
import { readPidFile } from "./pid-file.ts";
import { Supervisor } from "../runtime/supervisor.ts";

export const VERSION: string = readVersion();

function readVersion(): string {
  try {
    const pkg: unknown = JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    if (typeof pkg === "object" && pkg !== null && "version" in pkg && typeof pkg.version === "string") return pkg.version;
  } catch { /* packaged without package.json */ }
  return "0.0.0";
}

export type ConfigSource = { readonly kind: "file"; readonly file: string } | { readonly kind: "yaml"; readonly text: string };

/** -c, else $SWITCHYARD_CONFIG, else $SWITCHYARD_CONFIG_YAML, else conf/switchyard.yaml. */
export function configSource(opts: CliOptions, env: NodeJS.ProcessEnv): ConfigSource {
  if (opts.config !== null) return { kind: "file", file: opts.config };
  if (env.SWITCHYARD_CONFIG !== undefined && env.SWITCHYARD_CONFIG !== "") return { kind: "file", file: env.SWITCHYARD_CONFIG };
  if (env.SWITCHYARD_CONFIG_YAML !== undefined && env.SWITCHYARD_CONFIG_YAML !== "") return { kind: "yaml", text: env.SWITCHYARD_CONFIG_YAML };
  return { kind: "file", file: "conf/switchyard.yaml" };
}

export function sourceName(src: ConfigSource): string {
  return src.kind === "file" ? src.file : "$SWITCHYARD_CONFIG_YAML";
}

export async function load(src: ConfigSource, env: NodeJS.ProcessEnv): Promise<LoadResult> {
  return src.kind === "file" ? loadConfig(src.file, env) : loadConfigText(src.text, "$SWITCHYARD_CONFIG_YAML", env);
}

/** Entry: returns the exit code for commands that end (the proxy itself keeps the process alive). */
export async function main(opts: CliOptions, env: NodeJS.ProcessEnv): Promise<number | null> {
  if (opts.help) { process.stdout.write(`${USAGE}\n`); return 0; }
  if (opts.version) { process.stdout.write(`switchyard ${VERSION} (node ${process.version})\n`); return 0; }
  const src = configSource(opts, env);
  const name = sourceName(src);
  const result = await load(src, env);
  if (!result.ok) {
    for (const e of result.errors) process.stderr.write(`${formatError(e)}\n`);
    process.stderr.write(`configuration ${name} has ${result.errors.length} error${result.errors.length === 1 ? "" : "s"}\n`);
    return 1;
  }
  if (opts.test) { process.stdout.write(`configuration ${name} is ok\n`); return 0; }
  if (opts.signal !== null) return signalRunning(opts, result.plan.pidFile);
  const sup = new Supervisor(src, result.plan, opts, env);
  await sup.start();
  return null;
}

function signalRunning(opts: CliOptions, planPid: string | null): number {
  const file = opts.pidFile ?? planPid;
  if (file === null) { process.stderr.write("no pid file: give --pid-file or set pid_file in the configuration\n"); return 1; }
  const pid = readPidFile(path.resolve(file));
  if (typeof pid === "string") { process.stderr.write(`${pid}\n`); return 1; }
  const sig = opts.signal === "reload" ? "SIGHUP" : opts.signal === "stop" ? "SIGTERM" : "SIGQUIT";
  try { process.kill(pid, sig); } catch (e) { process.stderr.write(`cannot signal pid ${pid}: ${(e as Error).message}\n`); return 1; }
  process.stdout.write(`sent ${sig} to ${pid}\n`);
  return 0;
}
