# test_spf.py - end-to-end tests of SPF at MAIL time (issue 8, DESIGN §8):
# the real strictmxd against dnsmasq serving SPF records, clients bound to
# chosen 127.0.0.x addresses (swaks and raw sockets), in run.sh's private
# network namespace. Each test checks the reply by code and text, what
# landed (or did not) in the maildir, and the daemon's log line.
#
# Addresses: 127.0.0.10 is the designated sender of every domain below,
# 127.0.0.20 is a stranger. 127.0.0.53 is the harness's never-answering
# DNS helper (every name below hang.example).

import re
import subprocess
import time

import pytest

from e2elib import wait_until

GOOD, BAD = "127.0.0.10", "127.0.0.20"
HANG = "hang.example"
LONG = "x" * 240

ZONE = [
    ("TXT", "spf.example", "v=spf1 ip4:127.0.0.10 -all exp=why.spf.example"),
    ("TXT", "why.spf.example",
     "%{i} is not one of %{d}'s designated mail servers"),
    ("MX", "spf.example", 10, "mail.spf.example"),
    ("A", "mail.spf.example", "127.0.0.10"),
    ("TXT", "noexp.example", "v=spf1 ip4:127.0.0.10 -all"),
    ("TXT", "soft.example", "v=spf1 ip4:127.0.0.10 ~all"),
    ("TXT", "neutral.example", "v=spf1 ?all"),
    ("TXT", "two.example", "v=spf1 ip4:127.0.0.10 -all"),
    ("TXT", "two.example", "v=spf1 -all"),
    ("TXT", "loop.example", "v=spf1 include:loop.example -all"),
    ("TXT", "void.example",
     "v=spf1 a:n1.void.example a:n2.void.example a:n3.void.example -all"),
    ("TXT", "temp.example", "v=spf1 include:" + HANG + " -all"),
    ("TXT", "mechs.example", "v=spf1 mx/24 a:helo.client.example -all"),
    ("MX", "mechs.example", 10, "mail.spf.example"),
    ("TXT", "exists.example", "v=spf1 exists:%{ir}.ex.spf.example -all"),
    ("A", "40.0.0.127.ex.spf.example", "127.0.0.2"),
    # HELO identity for the null sender (RFC 7208 §2.3)
    ("A", "helo.client.example", "127.0.0.10"),
    ("TXT", "helo.client.example", "v=spf1 a -all"),
    ("A", "bad.client.example", "127.0.0.20"),
    ("TXT", "bad.client.example", "v=spf1 ip4:127.0.0.10 -all"),
] + [("TXT", "huge.example", "v=spf1 -all" if i == 0 else LONG + str(i))
     for i in range(8)]


@pytest.fixture
def zone(dns):
    return dns(ZONE, timeout=[HANG])


def swaks(m, src, sender, helo="helo.client.example"):
    """One swaks transaction from src; (returncode, transcript)."""
    p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % m.port,
                        "--local-interface", src, "--helo", helo,
                        "--from", sender, "--to", "alice@test.example",
                        "--body", "spf test", "--timeout", "40"],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def mail_reply(m, src, sender, helo="helo.client.example"):
    """EHLO and MAIL FROM from src; the reply to MAIL."""
    with m.connect(src=src) as c:
        c.cmd("EHLO " + helo, 250)
        r = c.cmd("MAIL FROM:<%s>" % sender, timeout=45)
        c.cmd("QUIT", 221)
    return r


def spf_log(m, result, domain):
    return wait_until(lambda: re.search(r"spf=%s identity=\S+ domain=%s "
                                        % (result, re.escape(domain)),
                                        m.log()), 5.0,
                      what="spf=%s log line for %s" % (result, domain))


def test_pass_and_fail_with_explanation(zone, mx):
    """The issue's 'done when': a client allowed by '-all' SPF gets 250 and
    its mail is delivered; a forbidden one gets 550 5.7.23 with the
    domain's exp= text, macro-expanded, and nothing is delivered."""
    m = mx(spf_policy="enforce")
    rc, out = swaks(m, GOOD, "alice@spf.example")
    assert rc == 0, out
    assert re.search(r"<-  250 2\.0\.0 Ok: queued as", out), out
    assert m.maildir("alice").count() == 1
    spf_log(m, "pass", "spf.example")
    rc, out = swaks(m, BAD, "alice@spf.example")
    assert rc != 0
    assert ("<** 550 5.7.23 127.0.0.20 is not one of spf.example's "
            "designated mail servers") in out, out
    assert m.maildir("alice").count() == 1
    spf_log(m, "fail", "spf.example")
    assert re.search(r'refused client=127\.0\.0\.20 .*cmd="MAIL" code=550',
                     m.log())


def test_fail_without_explanation(zone, mx):
    m = mx(spf_policy="enforce")
    r = mail_reply(m, BAD, "x@noexp.example")
    assert r.code == 550
    assert r.text == ("5.7.23 SPF fail: noexp.example does not allow "
                      "127.0.0.20 to send its mail (mailfrom identity)")


def test_ehlo_keyword(zone, mx):
    m = mx(spf_policy="enforce")
    with m.connect() as c:
        r = c.cmd("EHLO helo.client.example", 250)
    assert r.lines[-1] == "RFC3821 SPF"
    m2 = mx(spf_policy="log")
    with m2.connect() as c:
        r = c.cmd("EHLO helo.client.example", 250)
    assert r.lines[-1] == "RFC3821"


@pytest.mark.parametrize("sender,result", [
    ("a@soft.example", "softfail"), ("a@neutral.example", "neutral"),
    ("a@nospf.example", "none")])
def test_results_that_never_refuse(zone, mx, sender, result):
    m = mx(spf_policy="enforce")
    r = mail_reply(m, BAD, sender)
    assert r.code == 250, r
    spf_log(m, result, sender.split("@")[1])


def test_log_mode_never_refuses(zone, mx):
    m = mx(spf_policy="log")
    r = mail_reply(m, BAD, "a@noexp.example")
    assert r.code == 250
    wait_until(lambda: "spf policy would refuse (log mode): 550 5.7.23"
               in m.log(), 5.0)


def test_on_fail_accept(zone, mx):
    m = mx(spf_policy="enforce", spf_on_fail="accept")
    assert mail_reply(m, BAD, "a@noexp.example").code == 250
    spf_log(m, "fail", "noexp.example")


def test_policy_off_evaluates_nothing(zone, mx):
    m = mx(spf_policy="off")
    assert mail_reply(m, BAD, "a@noexp.example").code == 250
    assert "spf=" not in m.log()


def test_permerror(zone, mx):
    """Two v=spf1 records, an include loop, three void lookups: permerror,
    accepted by default, 550 5.7.24 with spf_on_permerror reject."""
    m = mx(spf_policy="enforce")
    for d in ("two.example", "loop.example", "void.example"):
        assert mail_reply(m, BAD, "a@" + d).code == 250
        spf_log(m, "permerror", d)
    m2 = mx(spf_policy="enforce", spf_on_permerror="reject")
    r = mail_reply(m2, BAD, "a@loop.example")
    assert r.code == 550 and r.text.startswith(
        "5.7.24 SPF permanent error for loop.example: "), r
    r = mail_reply(m2, BAD, "a@void.example")
    assert r.code == 550 and "void" in r.text, r


def test_temperror_timeout(zone, mx):
    """A DNS server that never answers: temperror once the resolver gives
    up (resolver_timeout), accepted by default, 451 4.7.24 with
    spf_on_temperror tempfail. The session waits, the others do not."""
    m = mx(spf_policy="enforce", spf_on_temperror="tempfail",
           resolver_timeout="2s")
    t0 = time.monotonic()
    with m.connect(src=BAD) as slow:
        slow.cmd("EHLO helo.client.example", 250)
        slow.send("MAIL FROM:<a@temp.example>\r\n")
        # meanwhile another client is served at once
        t1 = time.monotonic()
        assert mail_reply(m, GOOD, "a@spf.example").code == 250
        assert time.monotonic() - t1 < 1.5
        r = slow.read_reply(timeout=30)
        slow.cmd("QUIT", 221)
    assert r.code == 451, r
    assert r.text.startswith("4.7.24 SPF temporary error for temp.example")
    assert 1.5 < time.monotonic() - t0 < 15
    m2 = mx(spf_policy="enforce", resolver_timeout="1s")
    assert mail_reply(m2, BAD, "a@temp.example").code == 250


def test_truncated_answer_is_temperror(zone, mx):
    """A TXT answer larger than the EDNS0 size: the TC answer is a
    temperror at once (no waiting for a timeout), logged as truncated."""
    m = mx(spf_policy="enforce", spf_on_temperror="tempfail",
           resolver_timeout="5s")
    t0 = time.monotonic()
    r = mail_reply(m, BAD, "a@huge.example")
    assert r.code == 451, r
    assert time.monotonic() - t0 < 4
    assert "truncated" in m.log()


def test_null_sender_checks_helo_identity(zone, mx):
    m = mx(spf_policy="enforce")
    assert mail_reply(m, GOOD, "", helo="helo.client.example").code == 250
    spf_log(m, "pass", "helo.client.example")
    r = mail_reply(m, "127.0.0.20", "", helo="bad.client.example")
    assert r.code == 550 and r.text.startswith("5.7.23"), r
    spf_log(m, "fail", "bad.client.example")


def test_mechanisms_and_macros(zone, mx):
    """mx/24 (mechs.example's MX is 127.0.0.10, so 127.0.0.0/24 passes);
    exists: with the %{ir} macro (40.0.0.127.ex.spf.example exists, the
    name for 127.0.0.41 does not)."""
    m = mx(spf_policy="enforce")
    assert mail_reply(m, "127.0.0.30", "a@mechs.example").code == 250
    spf_log(m, "pass", "mechs.example")
    assert mail_reply(m, "127.0.0.40", "a@exists.example").code == 250
    spf_log(m, "pass", "exists.example")
    assert mail_reply(m, "127.0.0.41", "a@exists.example").code == 550
    spf_log(m, "fail", "exists.example")


def test_client_leaves_during_evaluation(zone, mx):
    """The client goes away while SPF waits on DNS: the evaluation is
    cancelled, nothing leaks (ASan build), the daemon serves on."""
    m = mx(spf_policy="enforce", resolver_timeout="3s")
    for _ in range(5):
        c = m.connect(src=BAD)
        c.cmd("EHLO helo.client.example", 250)
        c.send("MAIL FROM:<a@temp.example>\r\n")
        c.close()
    assert mail_reply(m, GOOD, "a@spf.example").code == 250
    time.sleep(3.5)
    assert m.running()


def test_exempt_client_not_evaluated(zone, mx):
    m = mx(spf_policy="enforce", exempt_clients="127.0.0.20")
    assert mail_reply(m, BAD, "a@noexp.example").code == 250
    assert "spf=" not in m.log()


def test_cbv_skip_on_spf_pass(zone, mx, remote_mx):
    """cbv_skip_on_spf_pass: an SPF pass for the MAIL FROM identity decides
    the sender check without a probe (a cbv row decided by spf-pass, a
    skip in the report); by default the sender's MX is still probed."""
    import e2elib
    remote = remote_mx(ip=GOOD)
    conf = dict(spf_policy="enforce", sender_policy="enforce", cbv="yes",
                cbv_timeout="10s")

    def one(m):
        with m.connect(src=GOOD) as c:
            c.cmd("EHLO helo.client.example", 250)
            c.cmd("MAIL FROM:<alice@spf.example>", 250)
            r = c.cmd("RCPT TO:<alice@test.example>", timeout=20)
            c.cmd("QUIT", 221)
        m.stop()
        return r, e2elib.sqlite_rows(m.stats_db, "SELECT * FROM cbv")

    r, rows = one(mx(cbv_skip_on_spf_pass="yes", **conf))
    assert r.code == 250, r
    assert [(x["decided_by"], x["outcome"]) for x in rows] == \
        [("spf-pass", "pass")]
    assert remote.sessions == []
    r, rows = one(mx(**conf))
    assert r.code == 250, r
    assert [(x["decided_by"], x["outcome"]) for x in rows] == \
        [("probe", "pass")]
    assert len(remote.sessions) == 1


def test_strictmxctl_spf(zone, mx, strictmxctl_path):
    """The admin's `strictmxctl spf IP ADDRESS [HELO]`: the daemon's own
    evaluator and resolver, the reply strictmxd would give, the result in
    the exit status."""
    m = mx(spf_policy="enforce", start=False)

    def ctl(*args):
        p = subprocess.run([strictmxctl_path, "-f", m.conf_path, "spf"] +
                           list(args), capture_output=True, text=True,
                           timeout=40, env=m.env)
        return p.returncode, p.stdout, p.stderr

    rc, out, err = ctl(GOOD, "alice@spf.example")
    assert rc == 0, (out, err)
    assert "identity:    mailfrom spf.example\n" in out
    assert "result:      pass\n" in out
    assert "mechanism:   ip4:127.0.0.10\n" in out
    rc, out, err = ctl(BAD, "alice@spf.example")
    assert rc == 1, (out, err)
    assert ("reply:       550 5.7.23 127.0.0.20 is not one of "
            "spf.example's designated mail servers\n") in out
    rc, out, _ = ctl(BAD, "<>", "bad.client.example")
    assert rc == 1 and "identity:    helo bad.client.example\n" in out
    rc, out, _ = ctl(BAD, "a@soft.example")
    assert rc == 3 and "result:      softfail\n" in out
    rc, out, _ = ctl(BAD, "a@loop.example")
    assert rc == 3 and "result:      permerror\n" in out
    assert "problem:     " in out
    rc, out, err = ctl("not-an-ip", "a@spf.example")
    assert rc == 64 and "usage" in err
