# test_authres.py - end-to-end tests of the Authentication-Results field
# (issue 8, DESIGN §8, RFC 8601) and of the auth records: the real
# strictmxd against dnsmasq in run.sh's private network namespace, clients
# bound to chosen 127.0.0.x addresses. Each test checks the exact header
# bytes in the maildir file, that forged fields claiming our authserv-id
# are gone (and others' kept), the auth rows in stats.db and the SPF lines
# of `strictmxctl stats`.
#
# Addresses: 127.0.0.7 has a forward-confirmed PTR name, 127.0.0.8 a PTR
# name that does not resolve back, 127.0.0.10 is the designated SPF sender
# of spf.example (no PTR), 127.0.0.20 a stranger (no PTR).

import json
import subprocess

import pytest

from e2elib import HOSTNAME, sqlite_rows

ZONE = [
    ("PTR", "127.0.0.7", "fcr.client.example"),
    ("A", "fcr.client.example", "127.0.0.7"),
    ("PTR", "127.0.0.8", "liar.client.example"),
    ("A", "liar.client.example", "127.0.0.99"),
    ("TXT", "spf.example", "v=spf1 ip4:127.0.0.10 -all"),
    ("TXT", "soft.example", "v=spf1 ip4:127.0.0.10 ~all"),
    ("A", "helo.client.example", "127.0.0.10"),
    ("TXT", "helo.client.example", "v=spf1 a -all"),
]

AR = "Authentication-Results: "


@pytest.fixture
def zone(dns):
    return dns(ZONE)


def deliver(m, src, sender, body, helo="client.example", rcpt=None):
    """One transaction from src; the body is wire bytes without the dot."""
    with m.connect(src=src) as c:
        c.cmd("EHLO " + helo, 250)
        c.cmd("MAIL FROM:<%s>" % sender, 250, timeout=20)
        c.cmd("RCPT TO:<%s>" % (rcpt or "alice@test.example"), 250,
              timeout=20)
        c.cmd("DATA", 354)
        c.send(body + b".\r\n")
        c.expect(250)
        c.cmd("QUIT", 221)
        c.expect_close()


def fields(data):
    """The header section of a delivered file as a list of whole fields
    (each with its continuation lines and LF)."""
    head = data.split(b"\n\n", 1)[0] + b"\n"
    out = []
    for ln in head.splitlines(keepends=True):
        if ln[:1] in (b" ", b"\t") and out:
            out[-1] += ln
        else:
            out.append(ln)
    return out


def by_subject(md):
    """{subject: file bytes} of a maildir's new/."""
    out = {}
    for data in md.new.values():
        for f in fields(data):
            if f.startswith(b"Subject: "):
                out[f[9:].strip().decode()] = data
    return out


def ours(data):
    """Our field: the third of the file, after Return-Path and Received."""
    f = fields(data)
    assert f[0].startswith(b"Return-Path: <"), f[:3]
    assert f[1].startswith(b"Received: from "), f[:3]
    assert f[2].startswith(AR.encode()), f[:3]
    return f[2].decode()


def header(iprev, spf):
    return "%s%s;\n\t%s;\n\t%s\n" % (AR, HOSTNAME, iprev, spf)


def auth_rows(m):
    if m.running():
        m.stop()                # SIGTERM flushes the stats batch
    return sqlite_rows(m.stats_db, "SELECT * FROM auth ORDER BY rowid")


def ctl_stats(ctl_path, m, *args):
    p = subprocess.run([ctl_path, "-f", m.conf_path, "stats"] + list(args),
                       capture_output=True, text=True, timeout=30,
                       env=m.env)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_iprev_and_spf_off(zone, mx):
    m = mx(spf_policy="off")
    cases = [("127.0.0.7", "iprev=pass (fcr.client.example) "
              "policy.iprev=127.0.0.7"),
             ("127.0.0.8", "iprev=fail policy.iprev=127.0.0.8"),
             ("127.0.0.20", "iprev=fail policy.iprev=127.0.0.20")]
    for i, (ip, _) in enumerate(cases):
        deliver(m, ip, "s%d@sender.example" % i,
                b"Subject: c%d\r\n\r\nbody\r\n" % i)
    got = by_subject(m.maildir("alice"))
    for i, (ip, iprev) in enumerate(cases):
        assert ours(got["c%d" % i]) == header(
            iprev, "spf=none (not checked: spf_policy off) "
            "smtp.mailfrom=s%d@sender.example" % i)
        # exactly one field of ours, then the message as sent
        assert got["c%d" % i].count(b"Authentication-Results") == 1
        assert got["c%d" % i].endswith(b"\nSubject: c%d\n\nbody\n" % i)


def test_hostile_helo_and_local_part(zone, mx):
    m = mx(spf_policy="off")
    deliver(m, "127.0.0.8", '"a;b(c)\\"d"@sender.example',
            b"Subject: h\r\n\r\nx\r\n", helo="[127.0.0.8]")
    deliver(m, "127.0.0.8", "", b"Subject: n\r\n\r\nx\r\n",
            helo="[127.0.0.8]")
    got = by_subject(m.maildir("alice"))
    assert ours(got["h"]) == header(
        "iprev=fail policy.iprev=127.0.0.8",
        "spf=none (not checked: spf_policy off)\n"
        '\tsmtp.mailfrom="\\"a;b(c)\\\\\\"d\\"@sender.example"')
    assert ours(got["n"]) == header(
        "iprev=fail policy.iprev=127.0.0.8",
        'spf=none (not checked: spf_policy off) smtp.helo="[127.0.0.8]"')


FORGED = (b"Authentication-Results: mx.test.example; spf=pass "
          b"smtp.mailfrom=x@y\r\n"
          b"Authentication-Results: MX.TEST.EXAMPLE;\r\n"
          b"\tdkim=pass header.d=y\r\n"
          b"Authentication-Results: other.example; spf=fail\r\n"
          b"Subject: forged\r\n"
          b"authentication-results:   mx.test.example 1; iprev=pass\r\n"
          b"\r\n"
          b"body\r\n"
          b"Authentication-Results: mx.test.example; in the body\r\n")


def test_forged_fields_removed(zone, mx):
    m = mx(spf_policy="off")
    deliver(m, "127.0.0.7", "s@sender.example", FORGED)
    _, data = m.maildir("alice").one()
    f = fields(data)
    assert ours(data) == header(
        "iprev=pass (fcr.client.example) policy.iprev=127.0.0.7",
        "spf=none (not checked: spf_policy off) "
        "smtp.mailfrom=s@sender.example")
    assert f[3:] == [b"Authentication-Results: other.example; spf=fail\n",
                     b"Subject: forged\n"]
    assert data.endswith(b"\nSubject: forged\n\nbody\n"
                         b"Authentication-Results: mx.test.example;"
                         b" in the body\n")


def test_authserv_id_key(zone, mx):
    """authserv_id names both our field and the fields removed."""
    m = mx(spf_policy="off", authserv_id="auth.test.example")
    deliver(m, "127.0.0.7", "s@sender.example",
            b"Authentication-Results: auth.test.example; spf=pass\r\n"
            b"Authentication-Results: mx.test.example; spf=pass\r\n"
            b"Subject: id\r\n\r\nx\r\n")
    _, data = m.maildir("alice").one()
    f = fields(data)
    assert f[2].decode() == (
        "Authentication-Results: auth.test.example;\n"
        "\tiprev=pass (fcr.client.example) policy.iprev=127.0.0.7;\n"
        "\tspf=none (not checked: spf_policy off)"
        " smtp.mailfrom=s@sender.example\n")
    assert f[3:] == [b"Authentication-Results: mx.test.example;"
                     b" spf=pass\n", b"Subject: id\n"]


def test_auth_rows_and_stats(zone, mx, strictmxctl_path):
    m = mx(spf_policy="off", max_message_size=2000, bare_newline="reject")
    deliver(m, "127.0.0.7", "s@sender.example", b"Subject: 1\r\n\r\nx\r\n")
    deliver(m, "127.0.0.8", "", b"Subject: 2\r\n\r\nx\r\n")
    with m.connect(src="127.0.0.20") as c:
        c.cmd("EHLO client.example", 250)
        # over the size limit: 552 after the dot
        c.cmd("MAIL FROM:<big@big.example>", 250)
        c.cmd("RCPT TO:<alice@test.example>", 250)
        c.cmd("DATA", 354)
        c.send(b"Subject: 3\r\n\r\n" + b"y" * 900 + b"\r\n" +
               b"y" * 900 + b"\r\n" + b"y" * 900 + b"\r\n.\r\n")
        c.expect(552)
        # a bare LF: 550 after the dot
        c.cmd("MAIL FROM:<lf@lf.example>", 250)
        c.cmd("RCPT TO:<alice@test.example>", 250)
        c.cmd("DATA", 354)
        c.send(b"Subject: 4\r\n\r\na\nb\r\n.\r\n")
        c.expect(550)
        # a client that leaves during DATA never reached its end: no row
        c.cmd("MAIL FROM:<gone@gone.example>", 250)
        c.cmd("RCPT TO:<alice@test.example>", 250)
        c.cmd("DATA", 354)
        c.send(b"Subject: 5\r\n\r\nhalf")
    rows = auth_rows(m)
    sess = {r["client_ip"]: r["id"] for r in
            sqlite_rows(m.stats_db, "SELECT id, client_ip FROM sessions")}
    want = [("127.0.0.7", "sender.example", "delivered", None),
            ("127.0.0.8", None, "delivered", None),
            ("127.0.0.20", "big.example", "refused", 552),
            ("127.0.0.20", "lf.example", "refused", 550)]
    assert len(rows) == len(want), rows
    for r, (ip, dom, disp, code) in zip(rows, want):
        assert (r["client_ip"], r["mailfrom_domain"], r["disposition"],
                r["reply_code"]) == (ip, dom, disp, code), r
        assert r["session_id"] == sess[ip]
        for k in ("from_domain", "spf_result", "spf_identity",
                  "spf_domain", "dkim", "dmarc_result", "dmarc_policy"):
            assert r[k] is None, (k, r)
        assert r["time"] > 0
    out = ctl_stats(strictmxctl_path, m)
    lines = out.split("\n")
    # the eleven lines and ours, unchanged, then the SPF lines
    assert lines[2].startswith("cbv calls          :")
    assert lines[12] == "-refused rcpt to   :       0 ( 0.00%)"
    i = lines.index("-helo logged       :       0")
    assert lines[i + 1:] == [
        "",
        "spf pass           :       0",
        "spf fail           :       0",
        "spf softfail       :       0",
        "spf neutral        :       0",
        "spf none           :       0",
        "spf temperror      :       0",
        "spf permerror      :       0",
        "spf not checked    :       4",
        "",
        "dkim pass          :       0",
        "dkim fail          :       0",
        "dkim none          :       4",
        "",
        "dmarc pass         :       0",
        "dmarc fail         :       0",
        "dmarc none         :       0",
        "dmarc temperror    :       0",
        "dmarc permerror    :       0",
        "dmarc not checked  :       4",
        "-junk              :       0",
        "-refused by dmarc  :       0",
        ""]
    j = json.loads(ctl_stats(strictmxctl_path, m, "--json"))
    assert j["spf_not_checked"] == 4 and j["spf_pass"] == 0


# -- with SPF evaluated (needs smtpd/spf.c, the evaluator) ---------------------

def test_spf_results(zone, mx, strictmxctl_path):
    m = mx(spf_policy="log")
    deliver(m, "127.0.0.10", "a@spf.example", b"Subject: pass\r\n\r\nx\r\n")
    deliver(m, "127.0.0.20", "b@spf.example", b"Subject: fail\r\n\r\nx\r\n")
    deliver(m, "127.0.0.20", "c@soft.example",
            b"Subject: soft\r\n\r\nx\r\n")
    deliver(m, "127.0.0.10", "", b"Subject: helo\r\n\r\nx\r\n",
            helo="helo.client.example")
    deliver(m, "127.0.0.7", "d@sender.example",
            b"Subject: none\r\n\r\nx\r\n", helo="fcr.client.example")
    got = by_subject(m.maildir("alice"))
    nofcr = "iprev=fail policy.iprev=%s"
    assert ours(got["pass"]) == header(nofcr % "127.0.0.10",
                                       "spf=pass smtp.mailfrom=a@spf.example")
    assert ours(got["fail"]) == header(nofcr % "127.0.0.20",
                                       "spf=fail smtp.mailfrom=b@spf.example")
    assert ours(got["soft"]) == header(
        nofcr % "127.0.0.20", "spf=softfail smtp.mailfrom=c@soft.example")
    assert ours(got["helo"]) == header(
        nofcr % "127.0.0.10", "spf=pass smtp.helo=helo.client.example")
    assert ours(got["none"]) == header(
        "iprev=pass (fcr.client.example) policy.iprev=127.0.0.7",
        "spf=none smtp.mailfrom=d@sender.example")
    rows = auth_rows(m)
    assert [(r["spf_result"], r["spf_identity"], r["spf_domain"],
             r["disposition"]) for r in rows] == [
        ("pass", "mailfrom", "spf.example", "delivered"),
        ("fail", "mailfrom", "spf.example", "delivered"),
        ("softfail", "mailfrom", "soft.example", "delivered"),
        ("pass", "helo", "helo.client.example", "delivered"),
        ("none", "mailfrom", "sender.example", "delivered")]
    out = ctl_stats(strictmxctl_path, m)
    for line in ("spf pass           :       2",
                 "spf fail           :       1",
                 "spf softfail       :       1",
                 "spf none           :       1",
                 "spf not checked    :       0"):
        assert "\n" + line + "\n" in out, out
