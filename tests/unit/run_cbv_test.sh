#!/bin/sh
# run_cbv_test.sh - run test_cbv in a private network namespace, with
# dnsmasq on 127.0.0.1:53 answering for the test's MX host names.
#
#	run_cbv_test.sh ./test_cbv [args...]
#
# Needs root (unshare -n), iproute2 and dnsmasq (Debian: dnsmasq-base);
# without them it exits 77, automake's "skipped". Nothing leaves the
# namespace; dnsmasq is stopped by its PID on exit. CBV_TEST_TRACE=1 in
# the environment prints each test's CBV transcript.
set -eu

if [ "${CBV_TEST_NETNS:-}" != 1 ]; then
	command -v dnsmasq >/dev/null 2>&1 ||
	    PATH=$PATH:/usr/sbin:/sbin
	command -v dnsmasq >/dev/null 2>&1 || {
		echo "run_cbv_test.sh: dnsmasq not found (apt-get install" \
		    "dnsmasq-base)" >&2
		exit 77
	}
	unshare -n true 2>/dev/null || {
		echo "run_cbv_test.sh: cannot unshare -n (not root?)," \
		    "skipped" >&2
		exit 77
	}
	CBV_TEST_NETNS=1 exec unshare -n "$0" "$@"
fi
export CBV_TEST_NETNS
# Under make check there are no arguments: the test binary of the build.
[ $# -gt 0 ] || set -- "${TEST_CBV:-./tests/unit/test_cbv}"

ip link set lo up
tmp=$(mktemp -d /tmp/cbvtest.XXXXXX)
dns_pid=
cleanup() {
	[ -n "$dns_pid" ] && kill "$dns_pid" 2>/dev/null && wait "$dns_pid" ||
	    true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# --local=/test/: names under .test that we did not list are NXDOMAIN,
# never forwarded (there is no upstream in here anyway: --no-resolv).
dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --listen-address=127.0.0.1 --bind-interfaces --port=53 \
    --user=root --group=root --pid-file="$tmp/dnsmasq.pid" \
    --log-facility="$tmp/dnsmasq.log" \
    --local=/test/ \
    --host-record=mx1.test,127.0.0.11 \
    --host-record=mx2.test,127.0.0.12 \
    --host-record=dead.test,127.0.0.14 \
    --host-record=mx46.test,127.0.0.15,::1 \
    --host-record=slow.test,127.0.0.16 \
    --host-record=mx6.test,::1 &
dns_pid=$!

i=0
until ss -lun 2>/dev/null | grep -q '127.0.0.1:53 '; do
	i=$((i + 1))
	if [ "$i" -gt 50 ]; then
		echo "run_cbv_test.sh: dnsmasq did not start" >&2
		cat "$tmp/dnsmasq.log" >&2 || true
		exit 1
	fi
	sleep 0.1
done

"$@"
