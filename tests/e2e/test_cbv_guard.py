# test_cbv_guard.py - end-to-end tests of issue 12's call-back bounds:
# cbv_forbidden_networks (no probe of loopback, our own or the site's
# inside addresses), cbv_max_per_client_minute / cbv_max_per_domain_minute
# (CBV as an amplifier) and what a hostile remote MX can do to one probe
# (hold it past cbv_timeout, grow our memory).
#
# e2elib's defaults turn the guard off and the rate bounds up, since the
# other CBV tests' scripted MXes live on 127.0.0.x; each test here puts
# back what it tests (None drops the key: the daemon's own default).

import json
import time

from e2elib import wait_until
from cbvlib import (OUTSIDE, RCPT, cache_rows, ctl, final_rows, finish,
                    mx_records, one_rcpt, open_session, rejected, smx,
                    start_mx, zone)

assert smx      # the fixture, imported for pytest

EVIL = "evil.example"
MXH = "mx.evil.example"


def stats_json(ctl_path, m):
    p = ctl(ctl_path, m, "stats", "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


# -- cbv_forbidden_networks ---------------------------------------------------

def test_loopback_mx_is_never_probed(mx, dns, smx, strictmxctl_path):
    dns(zone({EVIL: "127.0.0.10"}))
    r = smx("127.0.0.10", host=MXH)
    m = start_mx(mx, cbv_forbidden_networks=None)      # the default
    rep = one_rcpt(m, "joe@evil.example")
    why = "MX mx.evil.example resolves to forbidden network 127.0.0.10 " \
        "(127.0.0.0/8)"
    assert (rep.code, rep.text) == (450, rejected(
        "450", "4.1.7", "joe@evil.example", "unverified: " + why))
    m.wait_log("not probed")
    assert why in m.log()
    time.sleep(0.3)         # a connect would have come before the verdict
    assert r.sessions == []
    (row,) = final_rows(m, 1)
    assert (row["decided_by"], row["stage"], row["outcome"],
            row["mx_host"]) == ("probe", "connect", "tempfail", MXH)
    assert row["reply"] == why
    j = stats_json(strictmxctl_path, m)
    assert (j["bad_connects"], j["smtp_sessions"]) == (1, 0)


def test_guard_none_probes_loopback(mx, dns, smx):
    # the control: with the guard off (e2elib's default) the same MX is
    # asked, so the test above can tell the two apart
    dns(zone({EVIL: "127.0.0.10"}))
    r = smx("127.0.0.10", host=MXH)
    m = start_mx(mx, cbv_forbidden_networks="none")
    assert one_rcpt(m, "joe@evil.example").code == 250
    r.wait_sessions(1)


def test_site_networks_and_next_mx(mx, dns, smx):
    # only the site's list (no builtin): 127.0.0.20 is forbidden, .21 is
    # not; a domain with both MXes is verified by the one allowed
    dns(mx_records("inside.example", "127.0.0.20", host="mx1.x.example") +
        mx_records("inside.example", "127.0.0.21", pref=20,
                   host="mx2.x.example") +
        mx_records("only.example", "127.0.0.20", host="mx1.x.example")[:1])
    inside = smx("127.0.0.20", host="mx1.x.example")
    ok = smx("127.0.0.21", host="mx2.x.example")
    m = start_mx(mx, cbv_forbidden_networks="192.0.2.0/24 127.0.0.20/32")
    assert one_rcpt(m, "ann@inside.example").code == 250
    ok.wait_sessions(1)
    rep = one_rcpt(m, "bob@only.example")
    assert rep.code == 450 and "resolves to forbidden network 127.0.0.20 " \
        "(127.0.0.20/32, cbv_forbidden_networks)" in rep.text, rep
    assert inside.sessions == []
    assert len(ok.sessions) == 1


def test_own_listen_address_is_never_probed(mx, dns, smx):
    # a non-loopback address of ours (in run.sh's private namespace)
    import subprocess
    subprocess.run(["ip", "addr", "add", "192.0.2.25/32", "dev", "lo"],
                   check=False, capture_output=True)
    dns(zone({"self.example": "192.0.2.25"}))
    r = smx("192.0.2.25", host="mx.self.example")
    m = start_mx(mx, cbv_forbidden_networks=None,
                 listen="127.0.0.1:{port} 192.0.2.25:{port}")
    rep = one_rcpt(m, "me@self.example")
    assert rep.code == 450 and "forbidden network 192.0.2.25 (our own " \
        "address)" in rep.text, rep
    assert r.sessions == []


# -- cbv_max_per_client_minute, cbv_max_per_domain_minute ---------------------

def mail_loop(m, n, domain, src=OUTSIDE, first=0):
    """One session: RSET/MAIL FROM:<uI@domain> n times (cbv_stage mail:
    the MAIL reply is the verdict); the list of reply codes."""
    c = open_session(m, src)
    codes = []
    for i in range(first, first + n):
        rep = c.cmd("MAIL FROM:<u%d@%s>" % (i, domain), timeout=15)
        codes.append((rep.code, rep.text))
        c.cmd("RSET", 250)
    finish(c)
    return codes


def test_one_session_cannot_probe_more_than_the_client_bound(mx, dns, smx):
    dns(zone({"victim.example": "127.0.0.30", "other.example": "127.0.0.31"}))
    r = smx("127.0.0.30", host="mx.victim.example")
    m = start_mx(mx, cbv_stage="mail", max_errors="1000",
                 cbv_max_per_client_minute=None,     # default 20
                 cbv_max_per_domain_minute=None)     # default 60
    codes = mail_loop(m, 50, "victim.example")
    ok = [c for c in codes if c[0] == 250]
    over = [c for c in codes if c[0] != 250]
    assert len(ok) == 20 and codes[:20] == ok, codes
    assert len(over) == 30
    assert all(c == (450, rejected("450", "4.1.7", c[1].split("<")[1]
                                   .split(">")[0],
                                   "too many verifications, try again "
                                   "later")) for c in over), over[:2]
    assert len(r.sessions) <= 20
    # another client is still served, at the same domain
    assert mail_loop(m, 1, "victim.example", src="127.0.0.101",
                     first=100)[0][0] == 250
    assert len(r.sessions) == 21
    m.wait_log("cbv_max_per_client_minute")
    rs = final_rows(m, 51)
    assert sum(1 for x in rs if x["decided_by"] == "limit") == 30
    assert all(x["outcome"] == "tempfail" for x in rs
               if x["decided_by"] == "limit")
    limited = {x["address"] for x in rs if x["decided_by"] == "limit"}
    assert not limited & {x["address"] for x in cache_rows(m)}


def test_domain_bound_across_clients(mx, dns, smx):
    dns(zone({"victim.example": "127.0.0.30", "else.example": "127.0.0.31"}))
    r = smx("127.0.0.30", host="mx.victim.example")
    e = smx("127.0.0.31", host="mx.else.example")
    m = start_mx(mx, cbv_stage="mail", cbv_max_per_domain_minute="5")
    a = mail_loop(m, 3, "victim.example", src="127.0.0.101")
    b = mail_loop(m, 3, "victim.example", src="127.0.0.102", first=3)
    assert [c[0] for c in a + b] == [250] * 5 + [450]
    assert "too many verifications" in b[-1][1]
    assert len(r.sessions) == 5
    # another domain has its own bound
    assert mail_loop(m, 1, "else.example", src="127.0.0.102")[0][0] == 250
    assert len(e.sessions) == 1


# -- a hostile remote MX ------------------------------------------------------

def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    raise AssertionError("no VmRSS")


def timed_mail(m, sender):
    c = open_session(m)
    t0 = time.monotonic()
    rep = c.cmd("MAIL FROM:<%s>" % sender, timeout=30)
    took = time.monotonic() - t0
    finish(c)
    return rep, took


def test_trickled_greeting_cannot_hold_a_probe(mx, dns, smx):
    # one octet a second, for ever: the probe ends at cbv_timeout
    dns(zone({EVIL: "127.0.0.40"}))
    smx("127.0.0.40", {"greeting": ("split", ["2", "2", "0", " "] +
                                    ["x"] * 60, 1.0)}, host=MXH)
    m = start_mx(mx, cbv_stage="mail", cbv_timeout="3s")
    rep, took = timed_mail(m, "slow@evil.example")
    assert rep.code == 450 and "timeout waiting for greeting" in rep.text, \
        rep
    assert 2.5 <= took < 3 + 3, took


def test_endless_reply_and_huge_line_do_not_grow_memory(mx, dns, smx):
    big_line = b"220 " + b"x" * (10 << 20) + b"\r\n"
    endless = b"220-more\r\n" * (2 << 20)          # 20 MiB of lines
    dns(zone({EVIL: "127.0.0.41", "evil2.example": "127.0.0.42"}))
    smx("127.0.0.41", {"greeting": ("raw", big_line, "")}, host=MXH)
    smx("127.0.0.42", {"greeting": ("raw", endless, "")},
        host="mx.evil2.example")
    m = start_mx(mx, cbv_stage="mail", cbv_timeout="10s")
    rep, _ = timed_mail(m, "warm@evil.example")     # warm up the heap
    rss0 = vm_rss_kib(m.pid)
    for i, (dom, what) in enumerate([(EVIL, "oversized reply"),
                                     ("evil2.example", "oversized reply")]):
        rep, took = timed_mail(m, "big%d@%s" % (i, dom))
        assert rep.code == 450 and what in rep.text, rep
        assert took < 10, took
    grew = vm_rss_kib(m.pid) - rss0
    assert grew < 4096, "VmRSS grew by %d KiB" % grew
    wait_until(lambda: m.running(), 1)
