#!/usr/bin/env bash
# start-smtp.sh DIR PORT [PROXY_PORT] - one Postfix instance on 127.0.0.1:PORT acting as a mail
# sink, everything under DIR/smtp-PORT/ (conf/, queue/, data/, maillog, mail/, peer.pid).
# Any sender and recipient is accepted (no auth, no TLS); each accepted message is appended to
# DIR/smtp-PORT/mail/<queue-id> (delivery is asynchronous: poll for the file). XCLIENT and
# XFORWARD are allowed from 127.0.0.0/8. The optional PROXY_PORT is a second listener on which
# a PROXY v1/v2 header is REQUIRED. Idempotent. Prints "smtp PORT PID" once the 220 greeting
# is seen; on failure prints the log tail and exits 1.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ $# -ge 2 ] || { echo "usage: $0 DIR PORT [PROXY_PORT]" >&2; exit 2; }
DIR=$(scratch_dir "$1"); PORT=$2; PPORT=${3:-}
for p in "$PORT" $PPORT; do check_port "$p"; done
I=$DIR/smtp-$PORT
open_for_daemons "$DIR"
if pid=$(running_pid "$I"); then echo "smtp $PORT $pid"; exit 0; fi
for p in "$PORT" $PPORT; do ! port_busy "$p" || die "port $p already in use"; done
mkdir -p "$I/conf" "$I/mail" "$I/queue"
chmod 755 "$I"
chown mail:mail "$I/mail"

cat > "$I/conf/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $I/queue
data_directory = $I/data
maillog_file = $I/maillog
maillog_file_prefixes = $I
myhostname = sink-$PORT.switchyard.test
smtpd_banner = \$myhostname ESMTP switchyard-test-sink
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
# an open sink: every domain is a relay domain, every transport is the "sink" pipe
relay_domains = static:ALL
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions =
default_transport = sink
local_transport = sink
relay_transport = sink
virtual_transport = sink
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_authorized_xforward_hosts = 127.0.0.0/8
# no DNS lookups of client names (there is no resolver in the test machines)
smtpd_peername_lookup = no
CONF
# no chroot (5th column "n") so nothing has to be copied into a jail
{
  echo "127.0.0.1:$PORT inet n - n - - smtpd"
  [ -z "$PPORT" ] || echo "127.0.0.1:$PPORT inet n - n - - smtpd -o smtpd_upstream_proxy_protocol=haproxy"
  cat <<'MASTER'
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
MASTER
  echo "sink      unix  - n n -  - pipe"
  echo "  flags=R user=mail argv=/usr/bin/dd status=none conv=notrunc oflag=append of=$I/mail/\${queue_id}"
} > "$I/conf/master.cf"

# Postfix sleeps ~2 s when main.cf is less than a second old; make it look settled
touch -d '-1 minute' "$I/conf/main.cf" "$I/conf/master.cf"
# postfix reports early fatal errors only to a terminal or syslog: give it a terminal via script(1)
if ! script -qec "postfix -c '$I/conf' start" "$I/start.log" >/dev/null </dev/null; then
  cat "$I/start.log" >&2; tail -n 20 "$I/maillog" >&2 2>/dev/null; exit 1
fi
pid=$(( $(cat "$I/queue/pid/master.pid") ))   # the file holds a space-padded number
echo "$pid" > "$I/peer.pid"
greets() {
  exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
  local line
  read -r -t 2 line <&3 || return 1
  printf 'QUIT\r\n' >&3
  [[ $line == 220* ]]
}
if ! wait_ready 30 "$pid" greets; then
  kill "$pid" 2>/dev/null || true
  rm -f "$I/peer.pid"
  echo "smtp $PORT: no 220 greeting" >&2; tail -n 20 "$I/maillog" >&2; exit 1
fi
echo "smtp $PORT $pid"
