# test_resolver_cache.py - the resolver's answer cache (resolver_cache_size,
# strictmx.conf(5)) end to end: the real strictmxd against dnsmasq, whose
# log shows every query it got. Runs in run.sh's private namespace.

import re

from helolib import ZONE, assert_rows, session_rows
from test_sessions import ENFORCE, deliver

PTR_Q = "query[PTR] 7.0.0.127.in-addr.arpa"
A_Q = "query[A] fcr.client.example"


def sessions_of(m, n):
    for _ in range(n):
        deliver(m, "127.0.0.7", "fcr.client.example")
    rows = session_rows(m)
    assert_rows(rows, [dict(client_ip="127.0.0.7", ptr="fcr.client.example",
                            helo="fcr.client.example", helo_verdict="pass",
                            messages=1, ended="quit")] * n)


def test_next_sessions_asked_of_the_cache(dns, mx):
    """dnsmasq serves TTL 60 (DnsZone): the client's PTR and the A records
    of its name are asked once, then three sessions more are answered
    from memory, with the same verdicts and the same rows."""
    z = dns(ZONE)
    m = mx(**ENFORCE)
    sessions_of(m, 4)
    log = z.log()
    assert log.count(PTR_Q) == 1, log
    assert log.count(A_Q) == 1, log
    # what the postmaster reads at the end: 4 sessions x (PTR, A of the
    # PTR name, A of the HELO name) = 12 lookups, 2 of them queries
    got = re.search(r"resolver: cache at exit: (\d+) of (\d+) lookups "
                    r"since the start answered from memory \(([\d.]+)%\), (\d+) "
                    r"answers kept in (\d+) bytes", m.log())
    assert got, m.log_tail()
    assert got.group(1, 2, 3, 4) == ("10", "12", "83.3", "2"), got.group(0)
    assert 0 < int(got.group(5)) < 1000


def test_size_zero_asks_every_time(dns, mx):
    z = dns(ZONE)
    m = mx(resolver_cache_size="0", **ENFORCE)
    sessions_of(m, 3)
    log = z.log()
    assert log.count(PTR_Q) == 3, log
    assert log.count(A_Q) == 6, log     # PTR confirmation, HELO check
    assert "resolver cache" not in m.log()


def test_reload_forgets(dns, mx):
    z = dns(ZONE)
    m = mx(**ENFORCE)
    deliver(m, "127.0.0.7", "fcr.client.example")
    m.hup()
    deliver(m, "127.0.0.7", "fcr.client.example")
    deliver(m, "127.0.0.7", "fcr.client.example")
    m.stop()
    log = z.log()
    assert log.count(PTR_Q) == 2, log
    # before the reload: PTR and A of its name asked, the HELO's A not
    assert "resolver: cache at reload: 1 of 3 lookups since the start " \
        "answered from memory (33.3%), 2 answers kept in" in m.log(), m.log_tail()
