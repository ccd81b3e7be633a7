// The pid file: written at start, removed at exit; -s finds the running instance through it.
import { fs } from "../core/builtins.ts";

export function writePidFile(path: string): void {
  fs.writeFileSync(path, `${process.pid}\n`);
}

export function removePidFile(path: string): void {
  try {
    if (fs.readFileSync(path, "utf8").trim() === String(process.pid)) fs.unlinkSync(path);
  } catch { /* already gone */ }
}

/** The pid in the file, or an error text. */
export function readPidFile(path: string): number | string {
  let text: string;
  try { text = fs.readFileSync(path, "utf8"); } catch (e) { return `cannot read pid file ${path}: ${(e as Error).message}`; }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) return `pid file ${path} holds no pid`;
  return pid;
}
