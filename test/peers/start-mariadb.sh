#!/usr/bin/env bash
# start-mariadb.sh DIR PORT [PORT...] - start one MariaDB server per PORT on 127.0.0.1.
# State lives in DIR/mariadb-PORT/ (my.cnf, data/, mariadbd.sock, error.log, peer.pid).
# The data folder is created on the first start; every start (re)creates, idempotently, the
# database `switchyard` and the TCP user switchyard/secret. root logs in only over the socket:
#   mariadb --defaults-file=DIR/mariadb-PORT/my.cnf -uroot
# An instance already running from that folder is left alone. Prints "mariadb PORT PID" per
# server once it answers a query as the test user; on failure prints the log tail, exits 1.
# Extra server options: put them in DIR/mariadb-PORT/extra.cnf (with its own [mariadbd] line)
# before the start; it is appended to my.cnf at every start (e.g. ssl_cert/ssl_key for TLS).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ $# -ge 2 ] || { echo "usage: $0 DIR PORT [PORT...]" >&2; exit 2; }
DIR=$(scratch_dir "$1"); shift
for p in "$@"; do check_port "$p"; done

query_ok() { mariadb --connect-timeout=2 -h127.0.0.1 -P"$1" -uswitchyard -psecret -N -e 'select 1' switchyard; }

for PORT in "$@"; do
  I=$DIR/mariadb-$PORT
  mkdir -p "$I"
  if pid=$(running_pid "$I"); then echo "mariadb $PORT $pid"; continue; fi
  port_busy "$PORT" && die "port $PORT already in use"
  cat > "$I/my.cnf" <<CNF
[mariadbd]
user=root
datadir=$I/data
socket=$I/mariadbd.sock
pid-file=$I/mariadbd.pid
port=$PORT
bind-address=127.0.0.1
skip-name-resolve
log-error=$I/error.log
innodb_buffer_pool_size=64M
innodb_log_file_size=16M
innodb_flush_log_at_trx_commit=2
max_connections=300
init-file=$I/init.sql
proxy_protocol_networks=127.0.0.0/8
[client]
socket=$I/mariadbd.sock
CNF
  if [ -f "$I/extra.cnf" ]; then cat "$I/extra.cnf" >> "$I/my.cnf"; fi
  cat > "$I/init.sql" <<'SQL'
CREATE DATABASE IF NOT EXISTS switchyard;
CREATE USER IF NOT EXISTS 'switchyard'@'%' IDENTIFIED BY 'secret';
GRANT ALL ON switchyard.* TO 'switchyard'@'%';
SQL
  if [ ! -d "$I/data/mysql" ]; then
    if ! mariadb-install-db --defaults-file="$I/my.cnf" --skip-test-db >"$I/install-db.log" 2>&1; then
      tail -n 20 "$I/install-db.log" >&2; rm -rf "$I/data"; exit 1
    fi
  fi
  # cwd = the instance folder: stop.sh uses it to tell our process from a stranger's
  (cd "$I" && exec nohup mariadbd --defaults-file="$I/my.cnf" </dev/null >>"$I/stdout.log" 2>&1) &
  pid=$!
  echo "$pid" > "$I/peer.pid"
  if ! wait_ready 60 "$pid" query_ok "$PORT"; then
    kill "$pid" 2>/dev/null || true
    rm -f "$I/peer.pid"
    echo "mariadb $PORT: did not become ready" >&2; tail -n 20 "$I/error.log" >&2; exit 1
  fi
  echo "mariadb $PORT $pid"
done
