#!/usr/bin/env bash
# install.sh - make sure the real servers and clients the integration tests talk to are
# installed (Debian 12, as root): MariaDB, Dovecot IMAP/POP3, Postfix, swaks, curl, h2load, wrk.
# Installs only what is missing (a no-op run takes well under a second). apt is told not to
# start any service: the tests start their own instances with start-*.sh.
# The npm clients (mysql2, imapflow, smtp-server, nodemailer) come from the project's
# package.json; `npm ci` installs them.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
want=(mariadb-server mariadb-client dovecot-imapd dovecot-pop3d postfix swaks curl nghttp2-client wrk)
want+=(chromium)  # headless browser for test/browser/status.test.ts (driven by playwright-core)

# policy-rc.d exiting 101 = "do not start services from maintainer scripts"
[ -x /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; }
# Postfix: no questions, no system-wide main.cf (each test instance brings its own)
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections

todo=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || todo+=("$pkg")
done
if [ ${#todo[@]} -gt 0 ]; then
  echo "installing: ${todo[*]}"
  apt-get -qq -y -o DPkg::Lock::Timeout=600 update >/dev/null
  apt-get -qq -y -o DPkg::Lock::Timeout=600 install --no-install-recommends "${todo[@]}" >/dev/null
fi
echo "peers installed: mariadb $(mariadbd --version | awk '{print $3}'), dovecot $(dovecot --version | cut -d' ' -f1), postfix $(postconf -d -h mail_version)"
