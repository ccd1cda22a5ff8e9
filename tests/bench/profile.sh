#!/bin/bash
# profile.sh - where strictmxd spends its CPU while it receives: perf's
# top costs for one or more daemons under the same load, one after the
# other in one run (a "before" and an "after" binary side by side).
#
# usage (as root, perf installed):
#   tests/bench/profile.sh [-s SESSIONS] [-m MSGS] [-l BYTES] [-r RCPTS]
#       STRICTMXD [STRICTMXD...]
#   -s  smtp-source sessions (default 20)   -m  messages (default 3000)
#   -l  body bytes (default 1024)           -r  recipients (default 1)
#   BENCH_TMPDIR  where the maildirs go (default /var/tmp; a disk, not tmpfs)
#
# Each daemon runs with every policy off in a private network namespace,
# with a dnsmasq on 127.0.0.1 answering the client's PTR and A lookups, as
# in bench.sh. After a warm-up of 200 messages, perf record -g samples it
# while smtp-source sends the load; then the script prints msg/s, CPU
# ms/msg (utime + stime of the process, from /proc), the share of the CPU
# spent inside each system call and in user space, and the top symbols.
# Files are never deleted between the runs, only at the end: on ext4
# without a journal, freeing inodes makes every inode allocation of the
# next minutes slower (recently_deleted(), fs/ext4/ialloc.c), which would
# bill one daemon for the cleanup after another.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/bench/lib.sh
. "$here/lib.sh"

if [ "${STRICTMX_PROFILE_NS:-}" != 1 ]; then
	[ "$(id -u)" -eq 0 ] || { echo "profile.sh: run as root" >&2; exit 1; }
	export STRICTMX_PROFILE_NS=1
	exec timeout -k 10 900 unshare -n -m -p -f --mount-proc --kill-child \
		-- bash "$0" "$@"
fi

SESSIONS=20 MSGS=3000 SIZE=1024 RCPTS=1
while getopts s:m:l:r: o; do
	case $o in
	s) SESSIONS=$OPTARG ;;
	m) MSGS=$OPTARG ;;
	l) SIZE=$OPTARG ;;
	r) RCPTS=$OPTARG ;;
	*) exit 64 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: profile.sh [-s N] [-m N] [-l N] [-r N] STRICTMXD..." >&2; exit 64; }
for t in perf smtp-source dnsmasq ss; do
	command -v "$t" >/dev/null || { echo "profile.sh: $t is not installed" >&2; exit 1; }
done

D=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/strictmx-profile.XXXXXX") || exit 1
chmod 755 "$D"
PIDS=
cleanup() {
	local p
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	umount /etc/resolv.conf 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT

ip link set lo up
printf 'nameserver 127.0.0.1\n' >"$D/resolv.conf"
mount --bind "$D/resolv.conf" /etc/resolv.conf
# TTL 300 as in bench.sh; PROFILE_DNS_TTL=0 makes every lookup a query.
dnsmasq --no-resolv --no-hosts --no-daemon --port=53 \
	--local-ttl="${PROFILE_DNS_TTL:-300}" \
	--listen-address=127.0.0.1 --bind-interfaces --user=root --group=root \
	--pid-file= --local=/example/ --local=/in-addr.arpa/ \
	--host-record=client.example,127.0.0.1 >"$D/dnsmasq.log" 2>&1 &
PIDS="$PIDS $!"

# the message: a few header fields and SIZE bytes of 71-byte lines
{
	printf 'From: Profile <sender@client.example>\nSubject: profile\n\n'
	i=0
	while [ $((i * 71)) -lt "$SIZE" ]; do
		printf '%070d\n' "$i"
		i=$((i + 1))
	done
} >"$D/message"
RCPT_ARGS=(-t user@bench.example)
[ "$RCPTS" -gt 1 ] && RCPT_ARGS+=(-r "$RCPTS")

send() {	# send COUNT - one smtp-source run against 127.0.0.1:2525
	timeout 300 smtp-source -s "$SESSIONS" -m "$1" -F "$D/message" \
		-M client.example -f sender@client.example "${RCPT_ARGS[@]}" \
		127.0.0.1:2525
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

n=0
for smx in "$@"; do
	n=$((n + 1))
	dir=$D/$n
	mkdir -p "$dir/mail" "$dir/db"
	chown nobody:nogroup "$dir/mail" "$dir/db"
	for u in postmaster user; do printf '%s@bench.example %s\n' "$u" "$u"; done >"$dir/recipients"
	{
		smx_conf "$dir" 2525
		smx_policies_off
		printf 'max_clients_per_ip\t1000\n'
	} >"$dir/strictmx.conf"
	"$smx" -d -f "$dir/strictmx.conf" </dev/null >"$dir/log" 2>&1 &
	pid=$!
	PIDS="$PIDS $pid"
	wait_listen 2525 10 ||
		{ echo "profile.sh: $smx does not listen: $(tail -3 "$dir/log")" >&2; exit 1; }
	send 200 >/dev/null 2>&1
	c0=$(cpu_ticks $pid)
	perf record -g -p $pid -o "$dir/perf.data" >/dev/null 2>&1 &
	perf_pid=$!
	sleep 0.5
	t0=$(date +%s.%N)
	send "$MSGS"
	t1=$(date +%s.%N)
	c1=$(cpu_ticks $pid)
	kill -INT $perf_pid
	wait $perf_pid 2>/dev/null
	files=$(find "$dir/mail/user/new" -type f | wc -l)
	echo "== $smx"
	awk -v n="$MSGS" -v t0="$t0" -v t1="$t1" -v c="$((c1 - c0))" \
		-v hz="$(getconf CLK_TCK)" -v f="$files" -v s="$SESSIONS" \
		-v l="$SIZE" -v r="$RCPTS" 'BEGIN {
		printf "load: %d sessions, %d messages of %d body bytes x %d recipients; %d files in user/new\n", s, n, l, r, f
		printf "msg/s %.0f, CPU %.3f ms/msg\n", n / (t1 - t0), 1000 * c / hz / n }'
	# the CPU inside each system call (children included), user space
	perf report -i "$dir/perf.data" --children --sort symbol -g none \
		--stdio 2>/dev/null | awk '
		$4 ~ /^__x64_sys_/ || $4 == "__schedule" ||
		$4 == "finish_task_switch.isra.0" || $4 == "handle_softirqs" ||
		$4 == "__ext4_new_inode" || $4 == "recently_deleted" {
			sub(/^__x64_sys_/, "", $4); printf "  %-28s %s\n", $4, $1 }' |
		head -20 | sed '1i\  share of CPU inside (children included):'
	perf report -i "$dir/perf.data" --no-children --sort dso -g none \
		--stdio 2>/dev/null | awk '$1 ~ /%$/ { printf "  %-28s %s\n", $2, $1 }' |
		head -6 | sed '1i\  by object:'
	perf report -i "$dir/perf.data" --no-children --sort symbol -g none \
		--stdio 2>/dev/null | awk '$1 ~ /%$/ { printf "  %-40s %s\n", $3, $1 }' |
		head -12 | sed '1i\  top symbols (self):'
	kill $pid
	wait $pid 2>/dev/null
	echo
done
