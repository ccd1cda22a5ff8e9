#!/bin/sh
# run.sh - a real Dovecot reads what smtpd/maildir.c delivers: the Maildir++
# folder of maildir_set_folder(".Junk") is IMAP mailbox "Junk", and the text
# of maildir_prepend comes first, byte for byte (issue 9, DMARC quarantine).
#
# usage: tests/dovecot/run.sh [path/to/maildir_deliver]
#   default: $MAILDIR_DELIVER, else ./tests/unit/maildir_deliver (run from
#   the build dir, as `make check` does)
#   PYTHON  (default /usr/bin/python3)
#   DOVECOT (default /usr/sbin/dovecot: Debian's dovecot-core/dovecot-imapd)
#
# Inside `unshare -n` (loopback only) it starts Debian's dovecot in the
# foreground from a private config in a temporary directory: its own
# base_dir and state_dir, a passwd-file user whose mail is owned by nobody,
# plaintext LOGIN on 127.0.0.1:1143 without TLS. /etc/dovecot and the
# system service are never read nor touched. Dovecot drops privileges to
# its own users (dovecot, dovenull, made by the package), so this needs
# real root: without it the test is skipped (77). imap_check.py delivers
# with maildir_deliver as nobody, then checks over IMAP; TAP lines, then
# one "N passed, M failed" line (tests/summary.py reads the last one).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
DOVECOT=${DOVECOT:-/usr/sbin/dovecot}
deliver=${1:-${MAILDIR_DELIVER:-./tests/unit/maildir_deliver}}
case $deliver in /*) ;; *) deliver=$(pwd)/$deliver ;; esac
if ! [ -x "$deliver" ]; then
	echo "dovecot/run.sh: $deliver not built" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
if ! [ -x "$DOVECOT" ] || ! [ -x /usr/lib/dovecot/imap ]; then
	echo "dovecot/run.sh: dovecot-imapd not installed, skipped" >&2
	exit 77
fi
if [ "$(id -u)" != 0 ] || ! id dovecot >/dev/null 2>&1 ||
    ! id dovenull >/dev/null 2>&1; then
	echo "dovecot/run.sh: needs root and the dovecot users, skipped" >&2
	exit 77
fi

if [ "${STRICTMX_DOVECOT_NS:-}" != 1 ]; then
	STRICTMX_DOVECOT_NS=1
	export STRICTMX_DOVECOT_NS
	exec unshare -n sh "$here/run.sh" "$deliver"
fi

PATH=$PATH:/usr/sbin:/sbin
ip link set lo up
tmp=$(mktemp -d "${TMPDIR:-/tmp}/strictmx-dovecot.XXXXXX")
dc_pid=""
# shellcheck disable=SC2317  # called by the trap
cleanup() {
	if [ -n "$dc_pid" ]; then
		kill "$dc_pid" 2>/dev/null || :
		wait "$dc_pid" 2>/dev/null || :
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# The dovecot users must reach the config and passwd file; the mail user
# (nobody) its home. Nothing here is secret: a throwaway password.
chmod 755 "$tmp"
# nobody runs the delivery program: a copy here, since the build tree may
# sit below a directory only root can enter (a mktemp -d checkout)
cp "$deliver" "$tmp/maildir_deliver" && chmod 755 "$tmp/maildir_deliver" ||
	exit 1
deliver=$tmp/maildir_deliver
uid=$(id -u nobody)
gid=$(id -g nobody)
mkdir -p "$tmp/home" "$tmp/run" "$tmp/state"
chown "$uid:$gid" "$tmp/home"
printf 'test:{PLAIN}secret:%s:%s::%s/home::\n' "$uid" "$gid" "$tmp" \
    >"$tmp/passwd"
chmod 644 "$tmp/passwd"
cat >"$tmp/dovecot.conf" <<EOF
# A private instance: nothing from /etc/dovecot.
base_dir = $tmp/run
state_dir = $tmp/state
log_path = $tmp/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $tmp/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u $tmp/passwd
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = 1143
  }
  inet_listener imaps {
    port = 0
  }
}
EOF

"$DOVECOT" -F -c "$tmp/dovecot.conf" &
dc_pid=$!
n=0
while [ "$n" -lt 100 ] && ! ss -Hltn 2>/dev/null | grep -q '127.0.0.1:1143 '; do
	sleep 0.1
	n=$((n + 1))
done
if [ "$n" -ge 100 ]; then
	echo "dovecot/run.sh: dovecot did not start" >&2
	cat "$tmp/dovecot.log" >&2 2>/dev/null || :
	echo "0 passed, 1 failed"
	exit 1
fi

rc=0
"$PYTHON" "$here/imap_check.py" "$deliver" "$DOVECOT" "$tmp" "$uid" "$gid" ||
    rc=$?
exit "$rc"
