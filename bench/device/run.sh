#!/usr/bin/env bash
# run.sh — runs ON the 16-core device machine, in one call of at most 8 minutes:
#   nginx `worker_processes N` against switchyard `workers: N` for N = 1 2 4 8, HTTP and TCP 100 B at
#   c=50 per proxy core (wrk keeps every worker busy), the proxy pinned to cores 0..N-1, the origin
#   (4 node:cluster processes) to the next 4 cores and wrk (4 threads) to the 4 after, the same for
#   every N, so only the proxy's share of the machine changes.
# Device tool call (after bench/device/prepare.sh here):
#   run(kind="nvidia-h100-x1", command="bash bench/device/run.sh", carry=["bench/device/carry"], timeout_s=540)
set -uo pipefail
cd "$(dirname "$0")/../.."
c=bench/device/carry
t0=$(date +%s)
mkdir -p /tmp/sy-dev/bin /tmp/sy-dev/root
xz -dc "$c/node.xz" > /tmp/sy-dev/bin/node && chmod +x /tmp/sy-dev/bin/node
tar -xJf "$c/node_modules.tar.xz"
[ -f "$c/dist.tar.xz" ] && tar -xJf "$c/dist.tar.xz"
for d in "$c"/debs/*.deb; do [ -e "$d" ] && dpkg -x "$d" /tmp/sy-dev/root; done
export PATH=/tmp/sy-dev/bin:/tmp/sy-dev/root/usr/bin:/tmp/sy-dev/root/usr/sbin:$PATH
export LD_LIBRARY_PATH=/tmp/sy-dev/root/usr/lib/x86_64-linux-gnu
export NGINX_MODULES_DIR=/tmp/sy-dev/root/usr/lib/nginx/modules
ulimit -n 65536 || true
out="${OUT:-/tmp}"
{ nproc; node --version; nginx -v 2>&1; uname -r; } | tee "$out/machine.txt"
echo "set-up took $(( $(date +%s) - t0 )) s"
cores=$(nproc)
for n in 1 2 4 8; do
  [ $((n + 8)) -le "$cores" ] || { echo "workers $n: needs $((n + 8)) cores, have $cores"; break; }
  echo "== workers $n ($(( $(date +%s) - t0 )) s)"
  WORKERS=$n ROUNDS=2 SECONDS=5 WARMUP=2 SCENARIOS=http-100B-c50,tcp-100B-c50 TARGETS=direct,switchyard,nginx CONNS_SCALE=$n SY_PREBUILT=1 \
    PROXY_CPUS="0-$((n - 1))" ORIGIN_CPUS="$n-$((n + 3))" ORIGIN_WORKERS=4 LOAD_CPUS="$((n + 4))-$((n + 7))" WRK_THREADS=4 \
    timeout 110 node bench/compare.ts > "$out/workers-$n.md" 2> "$out/workers-$n.err" || echo "workers $n: failed or timed out"
  cat "$out/workers-$n.md"
done
echo "done in $(( $(date +%s) - t0 )) s"
