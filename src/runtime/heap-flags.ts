// V8 heap settings for the proxy process (issue 11, the memory target: peak RSS of one worker under
// HTTP load). A proxy's garbage is per request and dies young; V8's defaults size the heap for
// throughput: the young generation grows to two semi-spaces of up to 64 MiB each here, and the old
// generation's next limit can be up to 4x its live size. Under `wrk -c256` that read 180-250 MiB of
// peak RSS for a process whose live heap is under 20 MiB. With the two flags below it read 85-100 MiB
// (c=256, one worker, 2-core dev machine) with no measured loss of req/s at c=50:
//   --max-semi-space-size=2   young generation at most 2 x 2 MiB (scavenges stay short and cache-warm);
//   --heap-growing-percent=20 the old generation's next limit is its live size + 20 % (and V8's
//                             own minimum step), so a load burst does not leave a heap 4x its need;
//   --no-maglev               no mid-tier optimizing compiler: hot code goes from Sparkplug to
//                             TurboFan, which it reaches anyway in a long-running proxy. Maglev's
//                             code (about 1.2 MiB of Node's binary paged in) and its compiled code
//                             and zones cost 3-5 MiB of peak RSS at c=256 (77/78 -> 73/74 MiB in
//                             two paired runs); CPU per request at c=50 read the same within noise
//                             (10 and 12 interleaved rounds: 30.1 vs 29.8 and 31.8 vs 32.7 µs).
//   --no-parallel-scavenge    the main thread scavenges the (2 MiB) young generation alone. V8 would
//                             hand each scavenge to helper threads too and wait for them; a proxy
//                             worker shares its core (pinned, or with workers: N on N cores), so the
//                             helpers wait their turn on a busy core and the sync costs more than it
//                             saves. 100 B c=50, pinned as the bench: 19.8 against 27.5 µs per request
//                             (median of 8 pairs, better in 8 of 8), p99 about halved, peak RSS 71
//                             against 79 MiB; 16 KiB c=50 32.6 against 42.9 µs (5 of 6); c=256 and an
//                             unpinned proxy the same within noise. (--single-threaded-gc, which
//                             also stops concurrent marking and sweeping: 14-19 % more CPU and
//                             105 MiB at c=256; --no-concurrent-marking or --no-parallel-compaction
//                             on top: no gain.)
// (--memory-saver-mode was tried: 2-4 MiB less peak RSS at c=256, but about 10 % more CPU per request
// in 5 paired rounds, and p99 spikes in a full bench run: left out.)
// The re-executed image also gets MALLOC_ARENA_MAX=2 unless the environment sets it: glibc otherwise
// gives each of Node's threads (V8 workers, libuv pool) its own malloc arena, a few MiB of RSS each
// for a process whose allocations are almost all on the main thread.
// Heap sizes are fixed when V8 starts (v8.setFlagsFromString comes too late for them), so the entry
// point re-executes Node with the flags: process.execve keeps the pid, the open stdio and the
// environment, and replaces the image before the proxy's modules load. Cluster workers inherit
// them through process.execArgv. A flag the operator set (node flags or NODE_OPTIONS) is left as
// it is; SWITCHYARD_HEAP_FLAGS replaces the list ("" turns the re-exec off).

/** What the entry point adds when neither the command line nor NODE_OPTIONS names it. */
export const HEAP_FLAGS: readonly string[] = ["--max-semi-space-size=2", "--heap-growing-percent=20", "--no-maglev", "--no-parallel-scavenge"];

/** Environment the re-executed image gets where the operator set none of it. */
export const HEAP_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: "2" };

/** Set in the re-executed image's environment, read and removed at once: a second re-exec never happens. */
const MARK = "SWITCHYARD_HEAP_FLAGS_APPLIED";

/** A V8/Node flag's name: no leading dashes, "_" as "-", nothing from "=" on, no "no-" (--maglev names --no-maglev's setting). */
function flagName(flag: string): string {
  const eq = flag.indexOf("=");
  return (eq < 0 ? flag : flag.slice(0, eq)).replace(/^-+/, "").replaceAll("_", "-").replace(/^no-/, "");
}

/**
 * The flags of the list (HEAP_FLAGS, or the space-separated SWITCHYARD_HEAP_FLAGS when set) whose
 * names neither execArgv nor NODE_OPTIONS carries; empty when there is nothing to add.
 */
export function missingHeapFlags(execArgv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const wanted = env.SWITCHYARD_HEAP_FLAGS === undefined ? HEAP_FLAGS : env.SWITCHYARD_HEAP_FLAGS.split(/\s+/).filter((f) => f !== "");
  const set = new Set([...execArgv, ...(env.NODE_OPTIONS ?? "").split(/\s+/)].filter((f) => f.startsWith("-")).map(flagName));
  return wanted.filter((f) => !set.has(flagName(f)));
}

/**
 * Re-executes this process with the missing heap flags ahead of its own node flags and script.
 * Does not return when it does; returns (and the process goes on as it is) when nothing is missing,
 * when this image is already the re-executed one, or where process.execve is missing (Windows) or fails.
 * Call it before the proxy's modules are imported: the first image's work is thrown away.
 */
export function applyHeapFlags(): void {
  if (process.env[MARK] !== undefined) { delete process.env[MARK]; return; }
  const add = missingHeapFlags(process.execArgv, process.env);
  if (add.length === 0 || typeof process.execve !== "function") return;
  try {
    process.execve(process.execPath, [process.execPath, ...add, ...process.execArgv, ...process.argv.slice(1)], { ...HEAP_ENV, ...process.env, [MARK]: "1" });
  } catch {
    // execve failed (e.g. a seccomp policy): run with Node's defaults
  }
}
