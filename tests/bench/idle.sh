#!/bin/bash
# idle.sh - 10 000 idle connections held by one strictmxd: memory per idle
# connection and a well-behaved client served meanwhile (issue 10, "Scale").
#
# usage (as root, from the top of a build tree):
#   tests/bench/idle.sh [idle.py options, e.g. --greeting-only]
#   STRICTMXD     the daemon (default ./smtpd/strictmxd, relative to the cwd)
#   IDLE_CONNS    idle connections (default 10000)
#   IDLE_NOFILE   RLIMIT_NOFILE (soft and hard) of the daemon and the
#                 client (default 2 x IDLE_CONNS + 1000, or the hard
#                 limit if lower and not raisable)
#   IDLE_TMPDIR   where the maildirs go (default /var/tmp)
#   IDLE_KEEP=1   keep the temp dir (config, log)
#
# Inside a private network, mount and PID namespace (only lo; the end of
# the namespace kills whatever is left) it starts dnsmasq on 127.0.0.1:53
# with A and PTR records for the client addresses (127.0.0.2, the
# well-behaved client good.example, and 127.0.0.10-29, idle10.example ...
# idle29.example: every session's PTR lookup is answered), one strictmxd
# with every policy off and max_clients above IDLE_CONNS, then runs
# idle.py against it (see there for what is measured and when it fails).
# Exit status: idle.py's, or 1 when setup failed. A watchdog stops the
# whole run after 600 s.

# shellcheck disable=SC2317 # cleanup and wait_gone run from the EXIT trap
set -u

abspath() { realpath -s -m -- "$1"; }

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/bench/lib.sh
. "$here/lib.sh"

if [ "${STRICTMX_IDLE_NS:-}" != 1 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "idle.sh: run as root (namespaces, RLIMIT_NOFILE)" >&2
		exit 1
	fi
	STRICTMXD=$(abspath "${STRICTMXD:-./smtpd/strictmxd}")
	STRICTMX_IDLE_NS=1
	export STRICTMXD STRICTMX_IDLE_NS
	# as in bench.sh: -k kills unshare after the grace, --kill-child the
	# bash inside, the end of the PID namespace everything else.
	exec timeout -k 10 600 unshare -n -m -p -f --mount-proc --kill-child \
		-- bash "$here/idle.sh" "$@"
fi

CONNS=${IDLE_CONNS:-10000}
NOFILE=${IDLE_NOFILE:-$((CONNS * 2 + 1000))}
# without CAP_SYS_RESOURCE (a container) the hard limit cannot go up
if [ -z "${IDLE_NOFILE:-}" ] && [ "$(ulimit -Hn)" != unlimited ] &&
	[ "$NOFILE" -gt "$(ulimit -Hn)" ]; then
	NOFILE=$(ulimit -Hn)
fi
PORT=2525
if [ -z "${PYTHON:-}" ] && [ -x /usr/bin/python3 ]; then
	PYTHON=/usr/bin/python3
fi
PYTHON=${PYTHON:-python3}

D=
SMX_PID=
DNS_PID=

say() { printf '%s\n' "$*"; }
die() { printf 'idle.sh: %s\n' "$*" >&2; exit 1; }


cleanup() {
	trap - EXIT INT TERM
	local pid
	for pid in $SMX_PID $DNS_PID; do
		kill "$pid" 2>/dev/null
		wait_gone "$pid" 10 || kill -9 "$pid" 2>/dev/null
	done
	if [ -n "$D" ] && [ -z "${IDLE_KEEP:-}" ]; then
		rm -rf "$D"
	elif [ -n "$D" ]; then
		say "kept $D"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ -x "$STRICTMXD" ] || die "no daemon at $STRICTMXD (set STRICTMXD)"
for t in dnsmasq ss "$PYTHON"; do
	command -v "$t" >/dev/null 2>&1 || die "$t is not installed"
done
ip link set lo up || die "cannot bring up lo"
# root may raise the hard limit; the daemon and the client inherit both
ulimit -n "$NOFILE" ||
	die "cannot set RLIMIT_NOFILE to $NOFILE"

D=$(mktemp -d "${IDLE_TMPDIR:-/var/tmp}/strictmx-idle.XXXXXX") ||
	die "mktemp failed"
chmod 755 "$D"

# --- DNS: a name (A and PTR) for every client address ----------------------
sources=
# shellcheck disable=SC2054 # the commas belong to dnsmasq's option values
dns=(--host-record=good.example,127.0.0.2)
i=10
while [ $i -le 29 ]; do
	dns+=(--host-record="idle$i.example,127.0.0.$i")
	sources="$sources${sources:+,}127.0.0.$i"
	i=$((i + 1))
done
dnsmasq --no-resolv --no-hosts --no-daemon --port=53 \
	--listen-address=127.0.0.1 --bind-interfaces --user=root --group=root \
	--pid-file= --local=/example/ --local=/in-addr.arpa/ \
	--cache-size=1000 "${dns[@]}" >"$D/dnsmasq.log" 2>&1 &
DNS_PID=$!
i=0
until ss -Hlun 'sport = :53' | grep -q .; do
	i=$((i + 1))
	[ $i -lt 50 ] || die "dnsmasq does not listen: $(cat "$D/dnsmasq.log")"
	sleep 0.1
done

# --- strictmxd ----------------------------------------------------------------
mkdir -p "$D/mail" "$D/db"
chown nobody:nogroup "$D/mail" "$D/db"
printf 'user@bench.example user\npostmaster@bench.example postmaster\n' \
	>"$D/recipients"
{
	smx_conf "$D" "$PORT"
	smx_policies_off
} >"$D/strictmx.conf"
cat >>"$D/strictmx.conf" <<EOF
greet_delay		0s
timeout_command		30m
max_clients		$((CONNS + 100))
max_clients_per_ip	$((CONNS + 100))
EOF
"$STRICTMXD" -n -f "$D/strictmx.conf" >"$D/check.log" 2>&1 ||
	die "strictmxd -n: $(cat "$D/check.log")"
"$STRICTMXD" -d -f "$D/strictmx.conf" </dev/null >"$D/log" 2>&1 &
SMX_PID=$!
i=0
until ss -Hltn "sport = :$PORT" | grep -q .; do
	i=$((i + 1))
	[ $i -lt 100 ] || die "strictmxd does not listen: $(tail -5 "$D/log")"
	sleep 0.1
done

say "== $CONNS idle connections held by one strictmxd"
say "date:       $(date -u '+%Y-%m-%d %H:%M:%SZ')"
say "host:       $(uname -srm), nproc $(nproc), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
say "strictmxd:  $STRICTMXD (pid $SMX_PID, RLIMIT_NOFILE $(ulimit -Sn)/$(ulimit -Hn))"
say "config:     every policy off, greet_delay 0, timeout_command 30m, max_clients and max_clients_per_ip $((CONNS + 100))"
"$PYTHON" "$here/idle.py" --pid "$SMX_PID" --port $PORT --maildir "$D/mail" \
	--sources "$sources" --conns "$CONNS" "$@"
rc=$?
kill -0 "$SMX_PID" 2>/dev/null || { say "strictmxd died: $(tail -5 "$D/log")"; rc=1; }
say "log:        $(grep -c ' connect client=' "$D/log") connects, $(grep -c 'refused at connect' "$D/log") refused at connect, $(grep -ci 'accept:' "$D/log") accept errors, $(grep -c ' disconnect client=.* ptr=unknown' "$D/log") sessions without a client name"
exit $rc
