#!/bin/sh
# startup_check.sh - what a first start trips on is said at start, in a
# private network and mount namespace (unshare -n -m, root):
#   the resolver check (issue 11.2): no server at all, one that never
#     answers (start must not wait for it), dnsmasq that answers; at start,
#     on SIGHUP and in `strictmxd -n`;
#   maildir_root and stats_db's directory writable by the running user
#     (11.3): -n and start-up name the path; a read-only mount (what a
#     maildir_root outside the unit's ReadWritePaths= looks like) says
#     ReadWritePaths=;
#   `user` already in effect (the systemd unit) is silent (11.4).
# Exit 0 pass, 1 fail, 77 when a tool is missing or we are not root.
set -u
top=${TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${STRICTMXD:-$top/smtpd/strictmxd}
PATH=$PATH:/usr/sbin:/sbin
if [ "${STRICTMX_IN_NETNS:-}" != 1 ]; then
	for t in unshare dnsmasq setpriv python3 ip mount; do
		command -v $t >/dev/null 2>&1 ||
			{ echo "startup_check: $t not found, skipped"; exit 77; }
	done
	[ "$(id -u)" = 0 ] || { echo "startup_check: needs root, skipped"; exit 77; }
	STRICTMX_IN_NETNS=1 exec unshare -n -m sh "$0" "$@"
fi
ip link set lo up
fail=0 n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/strictmx-start.XXXXXX")
chmod 0755 "$tmp"
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	umount "$tmp/ro" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
printf 'postmaster@start.test postmaster\n' >"$tmp/recipients"
mkdir -p "$tmp/mail" "$tmp/db" "$tmp/rootmail" "$tmp/ro" "$tmp/rosrc"
chown 65534:65534 "$tmp/mail" "$tmp/db" "$tmp/rosrc"
mount --bind -o ro "$tmp/rosrc" "$tmp/ro" 2>/dev/null ||
	{ mount --bind "$tmp/rosrc" "$tmp/ro" && mount -o remount,bind,ro "$tmp/ro"; }

# conf NAME RESOLVER MAILDIR_ROOT STATS_DIR USER
conf() {
	cat >"$tmp/$1.conf" <<EOC
listen 127.0.0.1:2525
hostname mx.start.test
domains start.test
recipients recipients
maildir_root $3
stats_db $4/stats.db
resolver $2
resolver_timeout 2s
exempt_clients 127.0.0.0/8
EOC
	[ "$5" = none ] || echo "user $5" >>"$tmp/$1.conf"
}

# run_daemon CONF LOG AS: start strictmxd -d (AS: "" root, "nobody"), wait
# for its ready line (10 s at most); its pid in $dpid.
run_daemon() {
	: >"$2"
	if [ "$3" = nobody ]; then $nobody "$bin" -d -f "$tmp/$1.conf" >"$2" 2>&1 &
	else "$bin" -d -f "$tmp/$1.conf" >"$2" 2>&1 & fi
	dpid=$!
	pids="$pids $dpid"
	i=0
	while [ $i -lt 100 ] && ! grep -q " ready: " "$2" &&
	    kill -0 $dpid 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
}
stop_daemon() { kill $dpid 2>/dev/null; wait $dpid 2>/dev/null; }
# wait_for PATTERN FILE: up to 8 s
wait_for() {
	i=0
	while [ $i -lt 80 ] && ! grep -q "$1" "$2"; do sleep 0.1; i=$((i + 1)); done
	grep -q "$1" "$2"
}

# --- 11.2 the resolver ----------------------------------------------------
conf nodns 127.0.0.1:5353 "$tmp/mail" "$tmp/db" nobody
out=$($nobody "$bin" -n -f "$tmp/nodns.conf" 2>&1); rc=$?
check "-n, no DNS server: exit 0 with a warning naming 127.0.0.1:5353" \
	'[ $rc -eq 0 ] && echo "$out" | grep -q "warning: resolver: none of 127.0.0.1:5353 answers: every HELO/SPF/CBV check will tempfail (450); install a resolver, e.g. apt-get install unbound"'
run_daemon nodns "$tmp/nodns.log" nobody
check "start, no DNS server: the warning in the log" \
	'wait_for "warning: resolver: none of 127.0.0.1:5353 answers" "$tmp/nodns.log"'
kill -HUP $dpid
check "SIGHUP, no DNS server: the warning again" \
	'wait_for "reload: configuration" "$tmp/nodns.log" && i=0 && while [ $i -lt 40 ] && [ "$(grep -c "none of 127.0.0.1:5353" "$tmp/nodns.log")" -lt 2 ]; do sleep 0.1; i=$((i + 1)); done && [ "$(grep -c "none of 127.0.0.1:5353" "$tmp/nodns.log")" -eq 2 ]'
stop_daemon

# A server that swallows every query: start must not wait for it.
python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 5354))
end = time.time() + 60
while time.time() < end:
    s.settimeout(1)
    try: s.recv(512)
    except socket.timeout: pass
' &
pids="$pids $!"
sleep 0.3
conf silent 127.0.0.1:5354 "$tmp/mail" "$tmp/db" nobody
t0=$(date +%s)
out=$($nobody "$bin" -n -f "$tmp/silent.conf" 2>&1); rc=$?
t1=$(date +%s)
check "-n, a silent server: warning after a bounded wait ($((t1 - t0)) s)" \
	'[ $rc -eq 0 ] && [ $((t1 - t0)) -le 5 ] && echo "$out" | grep -q "none of 127.0.0.1:5354 answers"'
run_daemon silent "$tmp/silent.log" nobody
check "start, a silent server: ready first, the warning later (the loop never waits)" \
	'wait_for "none of 127.0.0.1:5354" "$tmp/silent.log" && [ "$(grep -n " ready: " "$tmp/silent.log" | cut -d: -f1)" -lt "$(grep -n "none of 127.0.0.1:5354" "$tmp/silent.log" | cut -d: -f1)" ]'
stop_daemon

dnsmasq --keep-in-foreground --no-resolv --no-hosts --port=5355 \
	--listen-address=127.0.0.1 --bind-interfaces --user=root \
	--pid-file="$tmp/dnsmasq.pid" --host-record=mx.start.test,127.0.0.1 \
	2>"$tmp/dnsmasq.log" &
pids="$pids $!"
i=0
while [ $i -lt 50 ] && ! python3 -c '
import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
s.sendto(bytes.fromhex("1234010000010000000000000274310000010001"), ("127.0.0.1", 5355)); s.recv(512)' 2>/dev/null
do sleep 0.1; i=$((i + 1)); done
conf dns 127.0.0.1:5355 "$tmp/mail" "$tmp/db" nobody
out=$($nobody "$bin" -n -f "$tmp/dns.conf" 2>&1); rc=$?
check "-n, dnsmasq answers: no warning" \
	'[ $rc -eq 0 ] && ! echo "$out" | grep -q "resolver:"'
conf dns2 "127.0.0.1:5353 127.0.0.1:5355" "$tmp/mail" "$tmp/db" nobody
out=$($nobody "$bin" -n -f "$tmp/dns2.conf" 2>&1); rc=$?
check "-n, one of two servers answers: no warning" \
	'[ $rc -eq 0 ] && ! echo "$out" | grep -q "resolver:"'
run_daemon dns "$tmp/dns.log" nobody
kill -HUP $dpid
wait_for "reload: configuration" "$tmp/dns.log"
sleep 0.5
check "start and SIGHUP, dnsmasq answers: no resolver warning" \
	'grep -q " ready: " "$tmp/dns.log" && ! grep -q "resolver:" "$tmp/dns.log"'
# --- 11.4 `user` already in effect is silent --------------------------------
check "started as the configured user: no \"ignoring user\" line" \
	'! grep -q "ignoring user" "$tmp/dns.log"'
stop_daemon
conf other 127.0.0.1:5355 "$tmp/mail" "$tmp/db" daemon
run_daemon other "$tmp/other.log" nobody
check "started as another user than \`user daemon\`: one line says so" \
	'[ "$(grep -c "not started as root: ignoring user daemon (running as uid 65534)" "$tmp/other.log")" -eq 1 ]'
stop_daemon

# --- 11.3 writable directories ----------------------------------------------
conf rootmail 127.0.0.1:5355 "$tmp/rootmail" "$tmp/db" nobody
out=$($nobody "$bin" -n -f "$tmp/rootmail.conf" 2>&1); rc=$?
check "-n as nobody, maildir_root owned by root: exit 1 naming the path" \
	'[ $rc -eq 1 ] && echo "$out" | grep -q "maildir_root $tmp/rootmail: not writable by uid 65534: Permission denied"'
out=$("$bin" -n -f "$tmp/rootmail.conf" 2>&1); rc=$?
check "-n as root with user nobody: the probe runs as nobody" \
	'[ $rc -eq 1 ] && echo "$out" | grep -q "maildir_root $tmp/rootmail: not writable by uid 65534"'
run_daemon rootmail "$tmp/rootmail.log" nobody
wait $dpid 2>/dev/null; rc=$?
check "start as nobody, maildir_root owned by root: exit 1 naming the path" \
	'[ $rc -eq 1 ] && grep -q "crit: maildir_root $tmp/rootmail: not writable" "$tmp/rootmail.log"'
conf missing 127.0.0.1:5355 "$tmp/rootmail/not/yet" "$tmp/db" nobody
out=$($nobody "$bin" -n -f "$tmp/missing.conf" 2>&1); rc=$?
check "-n, maildir_root not made yet below a root-owned directory: names both" \
	'[ $rc -eq 1 ] && echo "$out" | grep -q "maildir_root $tmp/rootmail/not/yet: missing, and its parent $tmp/rootmail not writable by uid 65534: Permission denied"'
conf later 127.0.0.1:5355 "$tmp/mail/not/yet" "$tmp/db" nobody
out=$($nobody "$bin" -n -f "$tmp/later.conf" 2>&1); rc=$?
check "-n, maildir_root not made yet below a writable directory: ok (made at the first delivery)" \
	'[ $rc -eq 0 ] && [ ! -e "$tmp/mail/not" ]'
conf rodb 127.0.0.1:5355 "$tmp/mail" "$tmp/ro" nobody
out=$($nobody "$bin" -n -f "$tmp/rodb.conf" 2>&1); rc=$?
check "-n, stats_db on a read-only mount: names the directory and ReadWritePaths=" \
	'[ $rc -eq 1 ] && echo "$out" | grep -q "stats_db directory $tmp/ro: not writable by uid 65534: Read-only file system (under systemd: add ReadWritePaths= for it with \`systemctl edit strictmxd\`)"'
out=$($nobody "$bin" -n -f "$tmp/dns.conf" 2>&1); rc=$?
check "-n, both writable: ok, and the probe files are gone" \
	'[ $rc -eq 0 ] && echo "$out" | grep -q ": ok (1 recipients)" && [ -z "$(find "$tmp/mail" "$tmp/db" -name ".strictmx-probe*")" ] && [ -n "$(find "$tmp/mail" "$tmp/db" -name "stats.db")" ]'
echo "1..$n"
[ $fail -eq 0 ]
