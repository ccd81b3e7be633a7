#!/usr/bin/env bash
# start-dovecot.sh DIR IMAP POP3 [IMAP_PROXY POP3_PROXY] - one standalone Dovecot serving IMAP
# and POP3 on 127.0.0.1, with everything under DIR/dovecot-IMAP/ (dovecot.conf, users, run/,
# state/, mail/, dovecot.log, peer.pid); /etc/dovecot is never read.
# Accounts alice/alice-pw and bob/bob-pw, plaintext logins without TLS (PLAIN, LOGIN, IMAP
# LOGIN, POP3 USER/PASS). The optional 4th and 5th ports are extra listeners on which a PROXY
# protocol header (v1 or v2) is REQUIRED. Idempotent. Prints "dovecot IMAP POP3 PID" once a
# real login works on both protocols; on failure prints the log tail and exits 1.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ $# -ge 3 ] || { echo "usage: $0 DIR IMAP POP3 [IMAP_PROXY POP3_PROXY]" >&2; exit 2; }
DIR=$(scratch_dir "$1"); IMAP=$2; POP3=$3; PIMAP=${4:-0}; PPOP3=${5:-0}
for p in "$IMAP" "$POP3" "$PIMAP" "$PPOP3"; do check_port "$p"; done
I=$DIR/dovecot-$IMAP
open_for_daemons "$DIR"
if pid=$(running_pid "$I"); then echo "dovecot $IMAP $POP3 $pid"; exit 0; fi
for p in "$IMAP" "$POP3" "$PIMAP" "$PPOP3"; do
  [ "$p" = 0 ] || ! port_busy "$p" || die "port $p already in use"
done
mkdir -p "$I/mail"
chmod 755 "$I"
chown mail:mail "$I/mail"

uid=$(id -u mail); gid=$(id -g mail)
# passwd-file lines: user:{scheme}password:uid:gid::home
printf '%s\n' "alice:{PLAIN}alice-pw:$uid:$gid::$I/mail/alice" "bob:{PLAIN}bob-pw:$uid:$gid::$I/mail/bob" > "$I/users"
chmod 644 "$I/users"

cat > "$I/dovecot.conf" <<CONF
instance_name = dovecot-$IMAP
base_dir = $I/run
state_dir = $I/state
log_path = $I/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = $uid
first_valid_gid = $gid
mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv
haproxy_trusted_networks = 127.0.0.0/8
login_trusted_networks = 127.0.0.0/8
passdb {
  driver = passwd-file
  args = scheme=PLAIN $I/users
}
userdb {
  driver = passwd-file
  args = $I/users
}
service imap-login {
  inet_listener imap {
    port = $IMAP
  }
  inet_listener imaps {
    port = 0
  }
  inet_listener imap_haproxy {
    port = $PIMAP
    haproxy = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = $POP3
  }
  inet_listener pop3s {
    port = 0
  }
  inet_listener pop3_haproxy {
    port = $PPOP3
    haproxy = yes
  }
}
CONF

(cd "$I" && exec nohup dovecot -F -c "$I/dovecot.conf" </dev/null >>"$I/stdout.log" 2>&1) &
pid=$!
echo "$pid" > "$I/peer.pid"
both_login() {
  curl -s -m 2 -o /dev/null "imap://127.0.0.1:$IMAP/" -u alice:alice-pw &&
  curl -s -m 2 -o /dev/null "pop3://127.0.0.1:$POP3/" -u alice:alice-pw
}
if ! wait_ready 30 "$pid" both_login; then
  kill "$pid" 2>/dev/null || true
  rm -f "$I/peer.pid"
  echo "dovecot $IMAP: did not become ready" >&2; tail -n 20 "$I/dovecot.log" "$I/stdout.log" >&2; exit 1
fi
echo "dovecot $IMAP $POP3 $pid"
