#!/usr/bin/env bash
# prepare.sh — run HERE (the dev machine) before a device run: packs what the 16-core device machine
# lacks into bench/device/carry/ (git-ignored; name it in the device tool's `carry`): the Node 24
# binary (xz), the runtime node_modules, dist/ as built here, and Debian .debs for wrk and nginx (+stream).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=bench/device/carry
rm -rf "$out"; mkdir -p "$out/debs"
xz -T0 -6 -c node_modules/node/bin/node > "$out/node.xz" 2>/dev/null || xz -T0 -6 -c "$(readlink -f node_modules/.bin/node)" > "$out/node.xz"
tar -cJf "$out/node_modules.tar.xz" node_modules/undici node_modules/yaml node_modules/pino* node_modules/prom-client \
  node_modules/sonic-boom node_modules/thread-stream node_modules/on-exit-leak-free node_modules/atomic-sleep \
  node_modules/quick-format-unescaped node_modules/real-require node_modules/safe-stable-stringify node_modules/process-warning \
  node_modules/@pinojs node_modules/slow-redact node_modules/bintrees node_modules/tdigest node_modules/@opentelemetry 2>/dev/null || true
node scripts/build-dist.ts && tar -cJf "$out/dist.tar.xz" dist
(cd "$out/debs" && apt-get download wrk nginx libnginx-mod-stream nginx-common libluajit-5.1-2 libluajit-5.1-common libpcre2-8-0 >/dev/null 2>&1 || true)
du -sh "$out"
