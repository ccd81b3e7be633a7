#!/usr/bin/env bash
# stop.sh DIR [INSTANCE...] - stop servers started by the start-*.sh scripts under DIR: all of
# them, or only the named instance folders (e.g. mariadb-23306, dovecot-23143, smtp-23025).
# Sends SIGTERM to the pid in INSTANCE/peer.pid (each master stops its own children), waits
# up to 20 s, then SIGKILL. A pid is signalled only when that process's working directory is
# inside the instance folder, so a stale pid file never hits an unrelated process.
# Idempotent; a missing DIR or instance is not an error.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: $0 DIR [INSTANCE...]" >&2; exit 2; }
DIR=$(cd "$1" 2>/dev/null && pwd) || exit 0
shift
if [ $# -gt 0 ]; then
  files=(); for n in "$@"; do files+=("$DIR/$n/peer.pid"); done
else
  files=("$DIR"/*/peer.pid)
fi
# a zombie (already exited, not yet reaped by its parent) counts as stopped
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $st != Z* ]]; }
signalled=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  inst=$(dirname "$f"); pid=$(cat "$f")
  cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null || true)
  if [ "$cwd" = "$inst" ] || [[ $cwd == "$inst"/* ]]; then
    kill -TERM "$pid" 2>/dev/null && signalled+=("$pid") && echo "stopping $(basename "$inst") pid $pid"
  fi
  rm -f "$f"
done
deadline=$((SECONDS + 20))
for pid in "${signalled[@]}"; do
  while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
  if alive "$pid"; then echo "pid $pid ignored SIGTERM; sending SIGKILL" >&2; kill -KILL "$pid" 2>/dev/null; fi
done
exit 0
