# common.sh - shared helpers for the peer scripts in this folder (sourced, never run).
# Every script keeps its state under a scratch DIR the caller names; nothing is written
# next to the scripts, so a read-only checkout works.

# die MESSAGE: print to stderr and exit 1.
die() { echo "$*" >&2; exit 1; }

# check_port P: P is a decimal TCP port 1..65535 (or 0 when the caller allows "none").
check_port() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -le 65535 ] || { echo "bad port: $1" >&2; exit 2; }; }

# port_busy P: true when something on 127.0.0.1 accepts a connection on P.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# scratch_dir DIR: create DIR, print its absolute path.
scratch_dir() { mkdir -p "$1" && (cd "$1" && pwd); }

# open_for_daemons DIR: the mail and postfix daemons drop root, so they must be able to walk
# into DIR; refuse early when a parent (e.g. /root) is private.
open_for_daemons() {
  chmod o+x "$1"
  runuser -u mail -- test -x "$1" || die "$1: not reachable by user 'mail' (a parent folder is private; use /tmp)"
}

# running_pid INST: print the pid recorded in INST/peer.pid when that process is alive.
running_pid() {
  local pid
  [ -f "$1/peer.pid" ] || return 1
  pid=$(cat "$1/peer.pid")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# wait_ready SECONDS PID CMD...: run CMD every 0.1 s until it succeeds (0), PID dies (1) or
# time runs out (1).
wait_ready() {
  local limit=$1 pid=$2; shift 2
  local end=$((SECONDS + limit))
  while [ $SECONDS -lt "$end" ]; do
    "$@" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  "$@" >/dev/null 2>&1
}
