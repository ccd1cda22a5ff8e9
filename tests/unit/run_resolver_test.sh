#!/bin/sh
# run_resolver_test.sh - run test_resolver (resolver.c, fcrdns.c, helo.c's
# DNS paths) against real DNS servers in a private network namespace.
#
# Usage: run_resolver_test.sh [path/to/test_resolver]
# Without an argument: $TEST_RESOLVER, else ./tests/unit/test_resolver,
# ./test_resolver or the one next to this script (for `make check` run
# from the top build directory).
#
# Inside `unshare -n` (loopback only, nothing leaves the machine) it starts:
#   dnsmasq (Debian dnsmasq-base) on 127.0.0.1:53 and [::1]:53 with the
#     test zone below;
#   a python3 UDP server on 127.0.0.2:53 that never answers, and on
#     127.0.0.3:53 one that answers with a truncated (TC) reply, a garbled
#     one, one with a wrong query id, or SERVFAIL, for ttl1.test,
#     ttl0.test and slow.test (0.5 s late) an A record of TTL 1, 0 or 60
#     that counts the queries, and for
#     edns.test a TXT
#     record naming the EDNS0 UDP size of the query ("udpsize=N", or
#     "no-opt" when it carried no OPT record).
# Exit status: the test's (0 pass, 1 fail), 77 when the tools are missing.
set -eu

test_bin=${1:-${TEST_RESOLVER:-}}
if [ -z "$test_bin" ]; then
	for c in ./tests/unit/test_resolver ./test_resolver \
	    "$(dirname "$0")/test_resolver"; do
		if [ -x "$c" ]; then test_bin=$c; break; fi
	done
fi
if [ -z "$test_bin" ] || ! [ -x "$test_bin" ]; then
	echo "run_resolver_test: test_resolver not built" >&2
	exit 1
fi

. "$(dirname "$0")/netns.sh"
netns_enter run_resolver_test "$0" "$test_bin"

PATH=$PATH:/usr/sbin:/sbin
ip link set lo up
tmp=$(mktemp -d "${TMPDIR:-/tmp}/strictmx-dns.XXXXXX")
dm_pid=""
py_pid=""
# shellcheck disable=SC2317  # called by the trap
cleanup() {
	if [ -n "$dm_pid" ]; then kill "$dm_pid" 2>/dev/null || :; fi
	if [ -n "$py_pid" ]; then kill "$py_pid" 2>/dev/null || :; fi
	wait 2>/dev/null || :
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# --user=root --group= : no privilege drop (dnsmasq would otherwise switch
# to nobody/dip, which a user namespace refuses; nothing here is exposed).
# The test zone. --local makes dnsmasq authoritative-like for these zones:
# unknown names are NXDOMAIN, known names without the type are NODATA.
dnsmasq --keep-in-foreground --conf-file=/dev/null --pid-file= \
    --user=root --group= \
    --no-resolv --no-hosts --port=53 --bind-interfaces \
    --listen-address=127.0.0.1,::1 \
    --log-queries --log-facility="$tmp/dnsmasq.log" --local-ttl=60 \
    --local=/test/ --local=/127.in-addr.arpa/ \
    --local=/8.b.d.0.1.0.0.2.ip6.arpa/ \
    --host-record=good.test,127.0.0.5 \
    --host-record=dual.test,127.0.0.6,2001:db8::6 \
    --host-record=v6.test,2001:db8::5 \
    --host-record=multi.test,127.0.0.7 \
    --host-record=other.test,127.0.0.8 \
    --ptr-record=7.0.0.127.in-addr.arpa,other.test \
    --ptr-record=7.0.0.127.in-addr.arpa,multi.test \
    --ptr-record=9.0.0.127.in-addr.arpa,UPPER.Test \
    --ptr-record=10.0.0.127.in-addr.arpa,other.test \
    --ptr-record=11.0.0.127.in-addr.arpa,ghost.test \
    --address=/alias.test/127.0.0.5 \
    --mx-host=mx.test,mx1.test,10 --mx-host=mx.test,mx2.test,5 \
    --mx-host=mx.test,mx3.test,10 \
    --mx-host=nullmx.test,.,0 \
    --txt-record=txt.test,"v=spf1 -all" &
dm_pid=$!

python3 - <<'EOF' &
import select, socket, struct, time

def server(ip):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 53))
    return s

def edns0_size(pkt, i):
    """The UDP size of the query's OPT RR (RFC 6891 §6.1.2), or None:
    one additional record, root owner, type 41, size in the class."""
    if (struct.unpack(">H", pkt[10:12])[0] != 1 or len(pkt) < i + 11 or
            pkt[i:i + 3] != b"\0\0\x29"):
        return None
    return struct.unpack(">H", pkt[i + 3:i + 5])[0]

silent, broken = server("127.0.0.2"), server("127.0.0.3")
seen = {}
while True:
    ready, _, _ = select.select([silent, broken], [], [])
    for s in ready:
        pkt, peer = s.recvfrom(4096)
        if s is silent or len(pkt) < 17:
            continue            # 127.0.0.2 never answers
        i, labels = 12, []
        while i < len(pkt) and pkt[i] != 0:
            n = pkt[i]
            labels.append(pkt[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        name, qid, question = ".".join(labels).lower(), pkt[:2], pkt[12:i + 5]
        if name == "edns.test":         # TXT: the EDNS0 size it saw
            flags, an = 0x8580, 1
            extra = b"\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x3c"
            opt = edns0_size(pkt, i + 5)
            txt = ("udpsize=%d" % opt if opt is not None else
                   "no-opt").encode()
            extra += struct.pack(">HB", len(txt) + 1, len(txt)) + txt
        elif name in ("ttl1.test", "ttl0.test", "slow.test"):
            # A, TTL 1, 0 or 60: 127.0.1.N, 127.0.2.N or 127.0.3.N for
            # the Nth query of the name, so the test sees which answers
            # it asked for; slow.test answers after 0.5 s.
            seen[name] = seen.get(name, 0) + 1
            ttl, net = {"ttl1.test": (1, 1), "ttl0.test": (0, 2),
                        "slow.test": (60, 3)}[name]
            if name == "slow.test":
                time.sleep(0.5)
            flags, an = 0x8580, 1
            extra = (b"\xc0\x0c\x00\x01\x00\x01" + struct.pack(">IH", ttl, 4)
                     + bytes([127, 0, net, seen[name] % 256]))
        elif name == "tc.test":         # QR AA TC RD RA, no answer
            flags, an, extra = 0x8780, 0, b""
        elif name == "garbled.test":    # one answer, cut short
            flags, an, extra = 0x8580, 1, b"\xc0\x0c\x00\x01\x00"
        elif name == "wrongid.test":    # an answer to some other query
            qid = bytes([pkt[0] ^ 0xff, pkt[1]])
            flags, an, extra = 0x8580, 0, b""
        else:                           # SERVFAIL
            flags, an, extra = 0x8182, 0, b""
        s.sendto(qid + struct.pack(">HHHHH", flags, 1, an, 0, 0) +
                 question + extra, peer)
EOF
py_pid=$!

# Wait until all five UDP sockets are bound (at most 5 s).
n=0
while [ "$n" -lt 50 ]; do
	bound=$(ss -Hlun 2>/dev/null | grep -c ':53 ' || :)
	[ "$bound" -ge 4 ] && break
	sleep 0.1
	n=$((n + 1))
done
if [ "$n" -ge 50 ]; then
	echo "run_resolver_test: DNS servers did not start" >&2
	cat "$tmp/dnsmasq.log" >&2 2>/dev/null || :
	exit 1
fi

rc=0
STRICTMX_DNS_TEST=1 "$test_bin" || rc=$?
if [ "$rc" != 0 ] && [ -n "${RESOLVER_TEST_VERBOSE:-}" ]; then
	cat "$tmp/dnsmasq.log" >&2
fi
exit "$rc"
