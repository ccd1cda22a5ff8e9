#!/bin/sh
# run_dmarc_test.sh - run test_dmarc with its DNS cases (DMARC policy
# discovery, smtpd/dmarc.c) against a scripted DNS server in a private
# network namespace.
#
# Usage: run_dmarc_test.sh [path/to/test_dmarc]
# Without an argument: $TEST_DMARC, else ./tests/unit/test_dmarc,
# ./test_dmarc or the one next to this script.
#
# Inside `unshare -n` (loopback only, nothing leaves the machine) it starts
# tests/spf/dnsserver.py on 127.0.0.1:53 with the zone below, then runs the
# test with DMARC_DNS_TEST=1 (which adds the DNS cases to the pure ones).
# Exit status: the test's (0 pass, 1 fail), 77 when the tools are missing.
set -eu

test_bin=${1:-${TEST_DMARC:-}}
if [ -z "$test_bin" ]; then
	for c in ./tests/unit/test_dmarc ./test_dmarc \
	    "$(dirname "$0")/test_dmarc"; do
		if [ -x "$c" ]; then test_bin=$c; break; fi
	done
fi
if [ -z "$test_bin" ] || ! [ -x "$test_bin" ]; then
	echo "run_dmarc_test: test_dmarc not built" >&2
	exit 1
fi
here=$(cd "$(dirname "$0")" && pwd)
dnsserver=$here/../spf/dnsserver.py

. "$here/netns.sh"
netns_enter run_dmarc_test "$0" "$test_bin"

PATH=$PATH:/usr/sbin:/sbin
ip link set lo up
tmp=$(mktemp -d "${TMPDIR:-/tmp}/strictmx-dmarc.XXXXXX")
py_pid=""
# shellcheck disable=SC2317  # called by the trap
cleanup() {
	if [ -n "$py_pid" ]; then kill "$py_pid" 2>/dev/null || :; fi
	wait 2>/dev/null || :
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# The zone (dnsserver.py's format). .test is not in the public suffix
# list: libpsl's default rule "*" makes x.test an organisational domain.
long=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
cat >"$tmp/zone.json" <<ZONE
{
 "_dmarc.reject.test": [{"TXT": "v=DMARC1; p=reject"}],
 "_dmarc.quar.test": [{"TXT": "v=DMARC1; p=quarantine; adkim=s; aspf=s"}],
 "_dmarc.sp.test": [{"TXT": "v=DMARC1; p=reject; sp=quarantine"}],
 "_dmarc.own.sp.test": [{"TXT": "v=DMARC1; p=none"}],
 "_dmarc.x.fb.test": [{"TXT": "v=spf1 -all"}, {"TXT": "hello"}],
 "_dmarc.fb.test": [{"TXT": "v=DMARC1; p=quarantine"}],
 "_dmarc.multi.test": [{"TXT": "v=DMARC1; p=reject"},
     {"TXT": "v=DMARC1; p=none"}],
 "_dmarc.bad.test": [{"TXT": "v=DMARC1; p=reject; pct=200"}],
 "_dmarc.rua.test": [{"TXT": "v=DMARC1; rua=mailto:agg@rua.test"}],
 "_dmarc.servfail.test": [{"RCODE": 2}],
 "_dmarc.sub.tf.test": [{"RCODE": 2}],
 "_dmarc.tf.test": [{"TXT": "v=DMARC1; p=none"}],
 "_dmarc.slow.test": ["TIMEOUT"],
 "_dmarc.tc.test": ["TRUNCATE"],
 "_dmarc.split.test": [{"TXT": ["v=DMARC1; p=", "reject; pct=100"]}],
 "_dmarc.xn--bcher-kva.test": [{"TXT": "v=DMARC1; p=reject"}],
 "_dmarc.pct.test": [{"TXT": "v=DMARC1; p=reject; pct=50"}],
 "_dmarc.long.test": [{"TXT": "v=DMARC1; p=reject; sp=none"}],
 "_dmarc.nodata.test": [{"A": "192.0.2.1"}],
 "_dmarc.big.test": [{"TXT": "v=DMARC1; p=reject; rua=mailto:$long@big.test; x=$long$long$long$long"}]
}
ZONE

python3 "$dnsserver" --zone "$tmp/zone.json" --listen 127.0.0.1:53 \
    >"$tmp/dns.log" 2>&1 &
py_pid=$!

n=0
while [ "$n" -lt 50 ]; do
	ss -Hlun 2>/dev/null | grep -q '127.0.0.1:53 ' && break
	sleep 0.1
	n=$((n + 1))
done
if [ "$n" -ge 50 ]; then
	echo "run_dmarc_test: DNS server did not start" >&2
	cat "$tmp/dns.log" >&2 || :
	exit 1
fi

rc=0
DMARC_DNS_TEST=1 "$test_bin" || rc=$?
exit "$rc"
