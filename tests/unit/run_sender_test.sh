#!/bin/sh
# run_sender_test.sh - run test_sender's DNS and probe paths (sender.c with
# the real resolver.c and cbv.c) against real servers in a private network
# namespace.
#
# Usage: run_sender_test.sh [path/to/test_sender]
#
# Inside `unshare -n` (loopback only, nothing leaves the machine) it starts:
#   dnsmasq (Debian dnsmasq-base) on 127.0.0.1:53 with the zone below:
#     nx.test (NXDOMAIN), txt.test (exists, no MX, no address),
#     nullmx.test (MX 0 ., RFC 7505), amx.test (no MX, A 127.0.0.1: an
#     implicit MX), mx.test (MX 10 mail.mx.test = 127.0.0.1), down.test
#     (A 127.0.0.2, where nothing listens);
#   a python3 scripted MX on 127.0.0.1:2525 that advertises RFC3821 and
#     accepts RCPT TO:<good...@...> only (550 5.1.1 for the others).
# Exit status: the test's (0 pass, 1 fail), 77 when the tools are missing.
set -eu

test_bin=${1:-${TEST_SENDER:-./tests/unit/test_sender}}
[ -x "$test_bin" ] || test_bin="$(dirname "$0")/test_sender"

. "$(dirname "$0")/netns.sh"
netns_enter run_sender_test "$0" "$test_bin"

PATH=$PATH:/usr/sbin:/sbin
ip link set lo up
tmp=$(mktemp -d "${TMPDIR:-/tmp}/strictmx-sender.XXXXXX")
dm_pid=""
py_pid=""
cleanup() {
	[ -n "$dm_pid" ] && kill "$dm_pid" 2>/dev/null || :
	[ -n "$py_pid" ] && kill "$py_pid" 2>/dev/null || :
	wait 2>/dev/null || :
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# --local makes dnsmasq answer for the zone itself: unknown names are
# NXDOMAIN, known names without the type asked are NODATA.
dnsmasq --keep-in-foreground --conf-file=/dev/null --pid-file= \
    --user=root --group=root \
    --no-resolv --no-hosts --port=53 --bind-interfaces \
    --listen-address=127.0.0.1 \
    --log-queries --log-facility="$tmp/dnsmasq.log" \
    --local=/test/ \
    --txt-record=txt.test,"no mail here" \
    --mx-host=nullmx.test,.,0 \
    --host-record=amx.test,127.0.0.1 \
    --mx-host=mx.test,mail.mx.test,10 \
    --host-record=mail.mx.test,127.0.0.1 \
    --host-record=down.test,127.0.0.2 &
dm_pid=$!

python3 - "$tmp/mx.log" <<'PYEOF' &
import socketserver, sys

log = open(sys.argv[1], "a", buffering=1)

class MX(socketserver.StreamRequestHandler):
    def say(self, text):
        self.wfile.write(text.encode() + b"\r\n")

    def handle(self):
        self.say("220 mx.script ESMTP-RFC3821 ready")
        for raw in self.rfile:
            line = raw.decode("ascii", "replace").rstrip("\r\n")
            log.write(line + "\n")
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.say("250-mx.script\r\n250-PIPELINING\r\n250 RFC3821")
            elif verb == "RCPT":
                addr = line[line.find("<") + 1:line.rfind(">")]
                if addr.startswith("good"):
                    self.say("250 2.1.5 Ok")
                else:
                    self.say("550 5.1.1 <%s>: no such user" % addr)
            elif verb == "QUIT":
                self.say("221 2.0.0 Bye")
                return
            else:
                self.say("250 2.0.0 Ok")

class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

Server(("127.0.0.1", 2525), MX).serve_forever()
PYEOF
py_pid=$!

# Wait until both servers are bound (at most 5 s).
n=0
while [ "$n" -lt 50 ]; do
	if ss -Hlun 2>/dev/null | grep -q '127.0.0.1:53 ' &&
	    ss -Hltn 2>/dev/null | grep -q '127.0.0.1:2525 '; then
		break
	fi
	sleep 0.1
	n=$((n + 1))
done
if [ "$n" -ge 50 ]; then
	echo "run_sender_test: servers did not start" >&2
	cat "$tmp/dnsmasq.log" >&2 2>/dev/null || :
	exit 1
fi

rc=0
STRICTMX_DNS_TEST=1 "$test_bin" || rc=$?
if [ "$rc" != 0 ] || [ -n "${SENDER_TEST_VERBOSE:-}" ]; then
	echo "--- what the scripted MX received:" >&2
	cat "$tmp/mx.log" >&2 2>/dev/null || :
fi
if [ "$rc" != 0 ] && [ -n "${SENDER_TEST_VERBOSE:-}" ]; then
	cat "$tmp/dnsmasq.log" >&2
fi
exit "$rc"
