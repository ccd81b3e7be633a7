// ConfigWatcher: calls onChange when the content of the configuration file changes (`watch: true`
// or `--watch`), including the way Kubernetes updates a mounted ConfigMap: the file is a symlink
// `NAME -> ..data/NAME`, and an update writes a new timestamped directory, points `..data_tmp` at
// it and renames `..data_tmp` over `..data` (one atomic rename; the file itself is never written).
//
// So the watcher watches the directory holding the file (and the directory the symlinks resolve
// to, re-read after every change), not the file: an inotify watch on the file's own inode would
// stay on the old, deleted one. Events are debounced; then the file is read through its symlinks
// and its SHA-256 compared with the last content seen. Only a different content calls onChange,
// so touching, re-linking to an identical copy or a swap in two steps reloads once. A content
// seen once is not reloaded again, whether it was valid or not: a broken file is logged by the
// reload and ignored until the next change. A slow stat poll backs up the directory watch for
// file systems where inotify says nothing (network mounts, some bind mounts).
import type { FSWatcher } from "node:fs";
import { fs, nodeCrypto } from "../core/builtins.ts";
import path from "node:path";
import type { Logger } from "../observability/logger.ts";

export interface WatchOptions {
  /** Quiet time after the last event before the file is read (default 200 ms). */
  readonly debounceMs: number;
  /** Fallback poll period (default 2 s; 0 = none). */
  readonly pollMs: number;
}

export const WATCH_DEFAULTS: WatchOptions = { debounceMs: 200, pollMs: 2000 };

export class ConfigWatcher {
  readonly file: string;
  readonly #onChange: () => void;
  readonly #log: Logger;
  readonly #opts: WatchOptions;
  readonly #watchers = new Map<string, FSWatcher>();
  #debounce: NodeJS.Timeout | null = null;
  #poll: NodeJS.Timeout | null = null;
  /** SHA-256 of the content last seen; null = the file could not be read. */
  #hash: string | null;
  #closed = false;

  /** file: the path as given (symlinks are followed at every read). onChange is called once per new content. */
  constructor(file: string, onChange: () => void, log: Logger, opts: WatchOptions = WATCH_DEFAULTS) {
    this.file = path.resolve(file);
    this.#onChange = onChange;
    this.#log = log;
    this.#opts = opts;
    this.#hash = this.#read();
  }

  start(): void {
    this.#rewatch();
    if (this.#opts.pollMs > 0) {
      this.#poll = setInterval(() => this.#check(), this.#opts.pollMs);
      this.#poll.unref();
    }
    this.#log.info({ file: this.file, dirs: [...this.#watchers.keys()] }, `watching ${this.file} for changes`);
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    if (this.#poll !== null) clearInterval(this.#poll);
  }

  /** Watch the file's directory and, when it is a symlink, the directory of its final target. */
  #rewatch(): void {
    const dirs = new Set([path.dirname(this.file)]);
    try { dirs.add(path.dirname(fs.realpathSync(this.file))); } catch { /* mid-swap or gone: the poll catches up */ }
    for (const [d, w] of this.#watchers) if (!dirs.has(d)) { w.close(); this.#watchers.delete(d); }
    for (const d of dirs) {
      if (this.#watchers.has(d)) continue;
      try {
        const w = fs.watch(d, { persistent: false }, () => this.#schedule());
        w.on("error", () => { w.close(); this.#watchers.delete(d); });
        this.#watchers.set(d, w);
      } catch (err) {
        this.#log.warn({ dir: d, err: (err as Error).message }, `cannot watch ${d}; polling every ${this.#opts.pollMs} ms`);
      }
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => { this.#debounce = null; this.#check(); }, this.#opts.debounceMs);
    this.#debounce.unref();
  }

  #check(): void {
    if (this.#closed) return;
    this.#rewatch();
    const h = this.#read();
    if (h === null || h === this.#hash) return; // unreadable (mid-swap, deleted): wait for the next change
    this.#hash = h;
    this.#log.info({ file: this.file, sha256: h.slice(0, 12) }, `${this.file} changed: reloading`);
    this.#onChange();
  }

  #read(): string | null {
    try {
      return nodeCrypto().createHash("sha256").update(fs.readFileSync(this.file)).digest("hex");
    } catch {
      return null;
    }
  }
}

/**
 * The watcher to hold now: `current` kept, created or closed so that one runs exactly when `want`.
 * file: the configuration file, or null when the text came from $SWITCHYARD_CONFIG_YAML (nothing
 * to watch: logged, and null returned).
 */
export function syncWatcher(current: ConfigWatcher | null, want: boolean, file: string | null, reload: () => void, log: Logger): ConfigWatcher | null {
  if (!want) { current?.close(); return null; }
  if (current !== null) return current;
  if (file === null) {
    log.warn("watch is on but the configuration came from $SWITCHYARD_CONFIG_YAML: there is no file to watch");
    return null;
  }
  const w = new ConfigWatcher(file, reload, log.child({ component: "watch" }));
  w.start();
  return w;
}
