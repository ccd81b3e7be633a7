#!/usr/bin/env bash
# run.sh — runs ON the 16-core device machine, in one call of at most 8 minutes:
#   nginx `worker_processes N` against switchyard `workers: N` (and HAProxy nbthread N) for N = 1 2 4 8,
#   HTTP and TCP 100 B at c=50, each side pinned to N cores with the load generator on the others.
# Device tool call (after bench/device/prepare.sh here):
#   run(command="bash bench/device/run.sh", carry=["bench/device/carry"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/../.."
c=bench/device/carry
mkdir -p /tmp/sy-dev/bin
xz -dc "$c/node.xz" > /tmp/sy-dev/bin/node && chmod +x /tmp/sy-dev/bin/node
tar -xJf "$c/node_modules.tar.xz"
for d in "$c"/debs/*.deb; do [ -e "$d" ] && dpkg -x "$d" /tmp/sy-dev/root; done
export PATH=/tmp/sy-dev/bin:/tmp/sy-dev/root/usr/bin:/tmp/sy-dev/root/usr/sbin:$PATH
export LD_LIBRARY_PATH=/tmp/sy-dev/root/usr/lib/x86_64-linux-gnu
ulimit -n 65536 || true
cores=$(nproc)
mkdir -p "${OUT:-/tmp}/bench"
for n in 1 2 4 8; do
  [ $((2 * n)) -le "$cores" ] || break
  echo "== workers $n"
  WORKERS=$n ROUNDS=2 SECONDS=10 SCENARIOS=http-100B-c50,tcp-100B-c50 \
    PROXY_CPUS="0-$((n - 1))" LOAD_CPUS="$n-$((2 * n - 1))" WRK_THREADS=$n \
    timeout 100 node bench/compare.ts | tee "${OUT:-/tmp}/bench/workers-$n.md" || echo "workers $n: failed or timed out"
done
