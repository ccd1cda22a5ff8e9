#!/bin/sh
# fail2ban_check.sh - run the fail2ban filter of conf/fail2ban on log lines
# that a real strictmxd wrote, and check it matches exactly the refusals.
#
# usage: tests/pkg/fail2ban_check.sh      (as root; exit 77 = skipped)
#   STRICTMXD   the daemon (default ./smtpd/strictmxd, from the build tree)
#   TOP_SRCDIR  the source tree (default: two levels above this script)
#   FAIL2BAN_REGEX  (default fail2ban-regex; "none" forces the fallback)
#   PYTHON      (default /usr/bin/python3)
#
# In a private network namespace (only lo): start strictmxd -d with a
# temporary config, let f2b_provoke.py make refusals from known client
# addresses (relay, unknown user, bad HELO: 5xx; a DNS tempfail: 4xx; a
# bare LF at DATA; syntax errors; one delivery), stop it with SIGTERM, then
# run fail2ban-regex on the daemon's stderr three ways: as written (-d,
# captured from stderr), as syslog writes it (strictmxd without -d), and as
# `journalctl -o short-iso` shows it under the unit. Each time the matched
# lines must be exactly the 5xx policy refusals, with the right host.
# Without fail2ban-regex (apt-get install fail2ban) the failregex is
# checked with python3's re instead, and the script says so.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$here/../.." && pwd)}
STRICTMXD=${STRICTMXD:-./smtpd/strictmxd}
case $STRICTMXD in /*) ;; *) STRICTMXD=$(pwd)/$STRICTMXD ;; esac
export TOP_SRCDIR STRICTMXD

if [ "$(id -u)" -ne 0 ]; then
	echo "fail2ban_check: SKIP: needs root (network namespace, user drop)"
	exit 77
fi
if [ "${STRICTMX_PKG_NS:-}" != 1 ]; then
	STRICTMX_PKG_NS=1
	export STRICTMX_PKG_NS
	exec unshare -n -- sh "$here/fail2ban_check.sh" "$@"
fi
ip link set lo up

PORT=25251
DNSPORT=25253
tmp=$(mktemp -d /tmp/strictmx-f2b.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "fail2ban_check: FAIL: $*"; exit 1; }

# The daemon drops to nobody: it must reach its maildirs and stats_db.
chmod 755 "$tmp"
mkdir -m 700 "$tmp/var"
chown nobody "$tmp/var"
printf 'postmaster@test.example\tpostmaster\n' >"$tmp/recipients"
cat >"$tmp/strictmx.conf" <<EOF
hostname	mx.test.example
listen		127.0.0.1:$PORT
user		nobody
domains		test.example
recipients	recipients
maildir_root	$tmp/var/mail
stats_db	$tmp/var/stats.db
resolver	127.0.0.1:$DNSPORT
helo_policy	enforce
sender_policy	enforce
EOF
# IPv6 too when the namespace has it: clients come from V6.
V6=fd00:f2b::2
if ip -6 addr show dev lo 2>/dev/null | grep -q '::1' &&
    ip addr add $V6/128 dev lo nodad 2>/dev/null; then
	sed -i "s/^listen.*/& [::1]:$PORT/" "$tmp/strictmx.conf"
else
	V6=
fi

"$STRICTMXD" -n -f "$tmp/strictmx.conf" >/dev/null || fail "config check"
"$STRICTMXD" -d -f "$tmp/strictmx.conf" 2>"$tmp/strictmxd.log" &
pid=$!
i=0
until grep -q ' ready: ' "$tmp/strictmxd.log"; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$tmp/strictmxd.log"; fail "strictmxd not ready"; }
	kill -0 "$pid" 2>/dev/null || { cat "$tmp/strictmxd.log"; fail "strictmxd exited"; }
	sleep 0.1
done

"${PYTHON:-/usr/bin/python3}" "$here/f2b_provoke.py" $PORT $DNSPORT $V6 >"$tmp/expected" ||
	{ cat "$tmp/strictmxd.log"; fail "unexpected SMTP replies"; }

kill -TERM "$pid"
wait "$pid" || fail "strictmxd exited with $? after SIGTERM"
pid=
grep -q 'shutdown: stopped' "$tmp/strictmxd.log" || fail "no clean shutdown"

# The test must not be vacuous: the log holds refusals fail2ban must
# ignore, and other lines.
raw=$tmp/strictmxd.log
grep -q 'refused client=127.0.0.4 .* code=4' "$raw" ||
	fail "no 4xx refusal line in the log"
grep -q 'refused client=127.0.0.5 .*cmd="DATA" code=5' "$raw" ||
	fail "no DATA refusal line in the log"
grep -q 'disconnect client=' "$raw" || fail "no session summary line"

# The three forms of the same lines.
dpid=12345
sed -n 's/^strictmxd: //p' "$raw" |
	sed "s/^/Mar  5 12:00:00 mx strictmxd[$dpid]: /" >"$tmp/syslog.log"
sed "s/^/2026-03-05T12:00:00+0000 mx strictmxd[$dpid]: /" "$raw" \
	>"$tmp/journal.log"

# fail2ban reads filter.d/common.conf next to the filter.
mkdir -p "$tmp/fail2ban/filter.d"
cp "$TOP_SRCDIR/conf/fail2ban/filter.d/strictmx.conf" "$tmp/fail2ban/filter.d/"
filter=$tmp/fail2ban/filter.d/strictmx.conf

FAIL2BAN_REGEX=${FAIL2BAN_REGEX:-fail2ban-regex}
if command -v "$FAIL2BAN_REGEX" >/dev/null 2>&1 &&
    [ -f /etc/fail2ban/filter.d/common.conf ]; then
	tool=fail2ban-regex
	cp /etc/fail2ban/filter.d/common.conf "$tmp/fail2ban/filter.d/"
else
	tool=python3-re
	echo "fail2ban_check: fail2ban-regex not installed: checking the" \
	    "failregex with python3 re (apt-get install fail2ban for the real test)"
fi

# match LOG [DATEPATTERN] - the matched lines of LOG, one a line.
match() {
	if [ $tool = fail2ban-regex ]; then
		if [ $# -gt 1 ]; then
			"$FAIL2BAN_REGEX" -r -d "$2" -o msg "$1" "$filter"
		else
			"$FAIL2BAN_REGEX" -r -o msg "$1" "$filter"
		fi
	else
		python3 - "$1" "$filter" <<'EOF'
import configparser, re, sys
cp = configparser.RawConfigParser()
cp.read(sys.argv[2])
rx = cp.get("Definition", "failregex").strip()
# common.conf's __prefix_line, reduced to the prefixes of the three forms.
prefix = (r"^\s*(?:\S+ \S+ |[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d )?"
          r"(?:mx )?(?:strictmxd(?:\[\d+\])?: )?")
rx = rx.replace("^%(__prefix_line)s", prefix)
rx = re.compile(rx.replace("<HOST>", r"(?P<host>[0-9a-fA-F.:]+)"))
for line in open(sys.argv[1]):
    if rx.search(line.rstrip("\n")):
        print(line.rstrip("\n"))
EOF
	fi
}

sort "$tmp/expected" | grep -v '^NEGATIVE' >"$tmp/want"
total=0
for form in raw syslog journal; do
	case $form in
	raw) match "$raw" '{NONE}' >"$tmp/$form.matched" ;;
	*) match "$tmp/$form.log" >"$tmp/$form.matched" ;;
	esac
	sed -n 's/.* refused client=\([^ ]*\) .*/\1/p' "$tmp/$form.matched" |
		sort | uniq -c | awk '{ print $2, $1 }' | sort >"$tmp/got"
	n=$(wc -l <"$tmp/$form.matched")
	[ "$n" -eq "$(awk '{ s += $2 } END { print s }' "$tmp/want")" ] ||
		{ cat "$tmp/$form.matched"; fail "$form: $n lines matched"; }
	if ! cmp -s "$tmp/want" "$tmp/got"; then
		echo "want:"; cat "$tmp/want"; echo "got:"; cat "$tmp/got"
		cat "$tmp/$form.matched"
		fail "$form: hosts differ"
	fi
	# Every matched line is a 5xx refusal of HELO/EHLO, MAIL or RCPT.
	if grep -v -E 'refused client=[^ ]+ helo="[^"]*"( (from|to)="[^"]*")* cmd="(HELO|EHLO|MAIL|RCPT)" code=5' \
	    "$tmp/$form.matched"; then
		fail "$form: a matched line is no policy refusal"
	fi
	total=$((total + n))
	echo "fail2ban_check: $form: $n of $(wc -l <"$raw") lines matched" \
	    "($(tr '\n' ' ' <"$tmp/got"| sed 's/ $//'))"
done
echo "fail2ban_check: PASS ($tool, $total matches in 3 log forms)"
