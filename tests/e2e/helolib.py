# helolib.py - shared pieces of the issue-3 end-to-end tests (test_helo.py,
# test_sessions.py): the DNS zone they use, the exact HELO/EHLO replies of
# strictmxd(8), and checks of the sessions table of stats.db.
#
#   ZONE, HANG          the test zone and its never-answering subdomain
#   ehlo_lines()        the exact lines of an EHLO reply
#   refusal()           the exact text of a HELO policy refusal
#   session_rows()      stop the daemon (SIGTERM flushes) and read the rows
#   assert_rows()       the rows are exactly the sessions a test caused
#   add_lo_address()    an extra address on lo (only in run.sh's netns)
#
# Source addresses used (the client binds them; lo answers all of
# 127.0.0.0/8): 127.0.0.5 .6 name matches, .7 forward-confirmed PTR, .8 PTR
# not confirmed, .9 exempt, .11 two PTR names, .100-.149 load clients.
# 127.0.0.53/.54 are the harness's never-answering / SERVFAIL DNS helpers.

import re
import subprocess

import e2elib

H = e2elib.HOSTNAME
GREETING = "%s ESMTP-RFC3821 strictmx ready" % H

# every lookup below "hang.example" is forwarded by dnsmasq to a server
# that never answers; "broken.example" gets SERVFAIL
HANG = "hang.example"
BROKEN = "broken.example"
LOAD_BASE = 100
LOAD_N = 50

ZONE = [
    ("A", "good.client.example", "127.0.0.5"),
    ("A", "multi.client.example", "127.0.0.99"),
    ("A", "multi.client.example", "127.0.0.6"),
    ("A", "elsewhere.client.example", "127.0.0.99"),
    ("AAAA", "v6only.client.example", "fd00::99"),
    ("AAAA", "v6.client.example", "::1"),
    ("AAAA", "v6b.client.example", "fd00::5"),
    # 127.0.0.7: forward-confirmed PTR
    ("PTR", "127.0.0.7", "fcr.client.example"),
    ("A", "fcr.client.example", "127.0.0.7"),
    ("A", "alias7.client.example", "127.0.0.7"),
    # 127.0.0.8: a PTR whose name points elsewhere (not confirmed)
    ("PTR", "127.0.0.8", "liar.client.example"),
    ("A", "liar.client.example", "127.0.0.99"),
    ("A", "aonly8.client.example", "127.0.0.8"),
    # 127.0.0.11: two PTR names, both confirmed
    ("PTR", "127.0.0.11", "one.client.example"),
    ("PTR", "127.0.0.11", "two.client.example"),
    ("A", "one.client.example", "127.0.0.11"),
    ("A", "two.client.example", "127.0.0.11"),
    ("A", "exempt.client.example", "127.0.0.9"),
] + [("A", "c%d.load.example" % i, "127.0.0.%d" % (LOAD_BASE + i))
     for i in range(LOAD_N)]


def ehlo_lines(rfc3821="RFC3821 HELO-FQDN HELO-IP"):
    """The EHLO reply lines (replies.md); rfc3821=None: no keyword line."""
    lines = [H, "PIPELINING", "SIZE 52428800", "8BITMIME",
             "ENHANCEDSTATUSCODES", "SMTPUTF8"]
    if rfc3821 is not None:
        lines.append(rfc3821)
    return lines


SYNTAX = "not a FQDN or address literal"
SELF = "you are not me"
SELF_LITERAL = "address literal is our own address"
OTHER_LITERAL = "address literal does not match your IP"
TEMP = "cannot verify helo name (DNS timeout)"


def refusal(helo, why):
    """The text after the code of a HELO refusal (helo.c)."""
    enh = {SYNTAX: "5.5.2", TEMP: "4.7.1"}.get(why, "5.7.1")
    return "%s <%s>: Helo command rejected: %s" % (enh, helo, why)


def not_resolving(helo, ip):
    return refusal(helo, "helo name %s does not resolve to %s" % (helo, ip))


def not_existing(helo):
    return refusal(helo, "helo name %s does not exist" % helo)


def literal_mismatch(helo, ip):
    return refusal(helo, "helo literal %s is not your address %s"
                   % (helo, ip))


def not_ptr(helo, ip):
    return refusal(helo, "helo name %s is not the verified PTR name of %s"
                   % (helo, ip))


def hello(m, src, helo, code, text=None, verb="EHLO", quit=True):
    """One session: greeting, HELO/EHLO (reply checked), then QUIT. Returns
    the reply (and the client when quit is false)."""
    c = m.connect(src=src)
    r = c.cmd("%s %s" % (verb, helo), code, text)
    if not quit:
        return r, c
    c.cmd("QUIT", 221, "2.0.0 Bye")
    c.expect_close()
    c.close()
    return r


COLUMNS = ("id", "start", "end", "client_ip", "ptr", "helo", "helo_verdict",
           "tls", "messages", "rcpt_accepted", "rcpt_refused", "bytes",
           "ended")


def read_rows(m):
    """The sessions rows (start order) of the stats_db m is configured
    with, read while it runs or after it stopped."""
    return e2elib.sqlite_rows(m.conf.get("stats_db") or m.stats_db,
                              "SELECT * FROM sessions ORDER BY start, rowid")


def session_rows(m):
    """Stop the daemon (SIGTERM writes every queued row, exit 0) and return
    the sessions rows in start order."""
    m.stop()
    return read_rows(m)


def assert_rows(rows, want):
    """rows (in start order) must be exactly want: a list of dicts of the
    columns that matter (client_ip, helo, helo_verdict, ...), same order."""
    got = [{k: r.get(k) for k in w} for r, w in zip(rows, want)]
    assert len(rows) == len(want) and got == want, \
        "sessions table differs:\n got: %s\nwant: %s\n all: %s" % (
            got, want, [{k: r[k] for k in ("client_ip", "helo",
                                           "helo_verdict", "ended")}
                        for r in rows])
    for r in rows:
        assert set(COLUMNS) <= set(r), "columns missing: %s" % list(r)
        assert re.match(r"^[0-9A-F]{12}$", r["id"]), r
        assert r["start"] <= r["end"], r


def add_lo_address(addr):
    """Add addr/128 (or /32) to lo; False when that is not possible."""
    plen = "128" if ":" in addr else "32"
    r = subprocess.run(["ip", "addr", "add", "%s/%s" % (addr, plen), "dev",
                        "lo"] + (["nodad"] if ":" in addr else []),
                       capture_output=True, text=True)
    # iproute2 says "File exists" for IPv4, "already assigned" for IPv6
    return r.returncode == 0 or "exists" in r.stderr or \
        "already assigned" in r.stderr


def log_lines(m, pattern):
    rx = re.compile(pattern)
    return [ln for ln in m.log().splitlines() if rx.search(ln)]
