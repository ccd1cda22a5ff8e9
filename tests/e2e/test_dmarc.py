# test_dmarc.py - end-to-end tests of DKIM and DMARC at the end of DATA
# (issue 9, DESIGN §8): the real strictmxd against dnsmasq serving DKIM
# keys, SPF and DMARC records; messages signed in the test by dkimpy
# (python3-dkim) with a key made by openssl; clients bound to chosen
# 127.0.0.x addresses. Each test checks the reply, what is (or is not) on
# disk, in which folder, the Authentication-Results bytes, and the auth
# row of stats.db.
#
# 127.0.0.10 is the SPF-designated sender of spf.example; 127.0.0.20 is a
# stranger everywhere. Names below hang.example never get an answer.

import os
import re
import subprocess

import dkim
import pytest

import e2elib
from e2elib import wait_until

GOOD, BAD = "127.0.0.10", "127.0.0.20"
HANG = "hang.example"
H = e2elib.HOSTNAME
POLICIES = dict(spf_policy="enforce", dkim_verify="yes",
                dmarc_policy="enforce")


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    """An RSA 1024-bit key (its TXT record fits one string) made by openssl:
    (private PEM bytes, the DKIM key record)."""
    d = tmp_path_factory.mktemp("dkimkey")
    priv = d / "k.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(priv), "1024"],
                   check=True, capture_output=True)
    pub = subprocess.run(["openssl", "rsa", "-in", str(priv), "-pubout",
                          "-outform", "DER"], check=True,
                         capture_output=True).stdout
    import base64
    return priv.read_bytes(), "v=DKIM1; k=rsa; p=" + \
        base64.b64encode(pub).decode()


def zone(key_record):
    recs = [
        ("TXT", "_dmarc.reject.example", "v=DMARC1; p=reject"),
        ("TXT", "_dmarc.quar.example", "v=DMARC1; p=quarantine"),
        ("TXT", "_dmarc.none.example", "v=DMARC1; p=none"),
        ("TXT", "_dmarc.spf.example", "v=DMARC1; p=reject"),
        ("TXT", "spf.example", "v=spf1 ip4:127.0.0.10 -all"),
    ]
    for d in ("reject.example", "quar.example"):
        recs.append(("TXT", "sel._domainkey." + d, key_record))
    return recs


@pytest.fixture
def z(dns, key):
    return dns(zone(key[1]), timeout=[HANG])


def message(frm, subject="dmarc test", body="hello\r\n", extra=""):
    return ("From: %s\r\nTo: alice@test.example\r\nSubject: %s\r\n"
            "Date: Sun, 06 Dec 2026 12:00:00 +0000\r\n"
            "Message-ID: <t1@%s>\r\n%s\r\n%s" % (frm, subject, H, extra,
                                                 body)).encode()


def sign(msg, domain, privkey):
    sig = dkim.sign(msg, b"sel", domain.encode(), privkey,
                    include_headers=[b"from", b"to", b"subject", b"date"])
    return sig + msg


def send(m, src, mailfrom, msg, helo="client.example"):
    """One transaction; the reply to the dot."""
    with m.connect(src=src) as c:
        c.cmd("EHLO " + helo, 250)
        c.cmd("MAIL FROM:<%s>" % mailfrom, 250, timeout=30)
        c.cmd("RCPT TO:<alice@test.example>", 250)
        c.cmd("DATA", 354)
        data = msg.replace(b"\r\n.", b"\r\n..")
        c.send(data + (b"" if data.endswith(b"\r\n") else b"\r\n") +
               b".\r\n")
        r = c.read_reply(timeout=40)
        c.cmd("QUIT", 221)
    return r


def files(m, sub="new"):
    out = {}
    for folder in ("", ".Junk"):
        p = os.path.join(m.maildir_root, "alice", folder, sub)
        if os.path.isdir(p):
            for n in os.listdir(p):
                out[os.path.join(folder, sub, n)] = open(
                    os.path.join(p, n), "rb").read()
    return out


def authres(data):
    """Our Authentication-Results field, unfolded."""
    m = re.search(rb"^Authentication-Results: .*?\n(?=\S)", data, re.S | re.M)
    assert m, data[:600]
    return re.sub(rb"\n\t", b" ", m.group(0)).decode().rstrip("\n")


def auth_rows(m):
    m.stop()
    return e2elib.sqlite_rows(m.stats_db, "SELECT * FROM auth ORDER BY rowid")


def test_signed_message_passes(z, mx, key):
    """DKIM pass aligned with From: DMARC pass under p=reject, delivered
    into the inbox; the header lists iprev, spf, dkim and dmarc."""
    m = mx(**POLICIES)
    msg = sign(message("Ann <ann@reject.example>"), "reject.example", key[0])
    r = send(m, BAD, "bounce@elsewhere.example", msg)
    assert r.code == 250, r
    got = files(m)
    assert list(got) and all(k.startswith("new/") for k in got), got
    ar = authres(list(got.values())[0])
    b8 = re.search(rb"b=([A-Za-z0-9+/]{8})", msg).group(1).decode()
    if "/" in b8:       # a tspecial (RFC 2045): the value is quoted
        b8 = '"%s"' % b8
    assert ("dkim=pass header.d=reject.example header.s=sel header.b=%s; "
            "dmarc=pass (p=reject dis=none) header.from=reject.example "
            "policy.dmarc=reject" % b8) in ar, ar
    row = auth_rows(m)[-1]
    assert (row["from_domain"], row["dkim"], row["dmarc_result"],
            row["dmarc_policy"], row["disposition"]) == (
        "reject.example", "pass d=reject.example s=sel", "pass", "reject",
        "delivered")


def test_reject_forgery_leaves_nothing(z, mx, key):
    """The issue's 'done when': a p=reject forgery gets 550 5.7.26 after
    the dot and leaves nothing on disk (new/, cur/, tmp/, .Junk)."""
    m = mx(**POLICIES)
    r = send(m, BAD, "x@nospf.example", message("ceo@reject.example"))
    assert r.code == 550 and r.text.startswith("5.7.26 DMARC"), r
    assert files(m) == {} and files(m, "tmp") == {}
    wait_until(lambda: re.search(r'refused client=127\.0\.0\.20 .*cmd="DATA"'
                                 r' code=550', m.log()), 5)
    row = auth_rows(m)[-1]
    assert (row["dmarc_result"], row["disposition"], row["reply_code"]) == \
        ("fail", "refused", 550)


def test_tampered_signature_is_a_forgery(z, mx, key):
    m = mx(**POLICIES)
    msg = sign(message("ann@reject.example"), "reject.example", key[0])
    r = send(m, BAD, "x@nospf.example", msg.replace(b"hello", b"hellO"))
    assert r.code == 550, r
    assert files(m) == {}
    row = auth_rows(m)[-1]
    assert row["dkim"].startswith("fail d=reject.example s=sel"), row


def test_quarantine_goes_to_junk(z, mx, key):
    m = mx(**POLICIES)
    r = send(m, BAD, "x@nospf.example", message("boss@quar.example"))
    assert r.code == 250, r
    got = files(m)
    assert list(got) and all(k.startswith(".Junk/new/") for k in got), got
    junk = os.path.join(m.maildir_root, "alice", ".Junk")
    assert os.path.isfile(os.path.join(junk, "maildirfolder"))
    assert oct(os.stat(junk).st_mode & 0o777) == "0o700"
    assert "dmarc=fail (p=quarantine dis=quarantine)" in authres(
        list(got.values())[0])
    assert auth_rows(m)[-1]["disposition"] == "junk"


def test_p_none_and_no_record_deliver(z, mx):
    m = mx(**POLICIES)
    assert send(m, BAD, "x@nospf.example", message("a@none.example")).code \
        == 250
    assert send(m, BAD, "x@nospf.example", message("a@norecord.example")) \
        .code == 250
    got = files(m)
    assert len(got) == 2 and all(k.startswith("new/") for k in got)
    rows = auth_rows(m)
    assert [(r["dmarc_result"], r["disposition"]) for r in rows] == [
        ("fail", "delivered"), ("none", "delivered")]


def test_spf_alignment_passes(z, mx):
    m = mx(**POLICIES)
    r = send(m, GOOD, "list@spf.example", message("a@spf.example"))
    assert r.code == 250, r
    assert "dmarc=pass" in authres(list(files(m).values())[0])


def test_log_mode_delivers_and_says_so(z, mx):
    m = mx(**dict(POLICIES, dmarc_policy="log"))
    r = send(m, BAD, "x@nospf.example", message("ceo@reject.example"))
    assert r.code == 250, r
    assert all(k.startswith("new/") for k in files(m))
    wait_until(lambda: "dmarc_policy log: not acted on" in m.log(), 5)


def test_exempt_client_not_refused(z, mx):
    """exempt_clients skip every policy: no DMARC evaluation, the forgery
    is delivered (a backup MX forwarding to us); DKIM is still verified
    for the header."""
    m = mx(**dict(POLICIES, exempt_clients=BAD))
    r = send(m, BAD, "x@nospf.example", message("ceo@reject.example"))
    assert r.code == 250, r
    assert "dkim=none; dmarc=none (not checked)" in authres(
        list(files(m).values())[0])
    row = auth_rows(m)[-1]
    assert (row["dmarc_result"], row["disposition"]) == (None, "delivered")


def test_policy_unreachable_is_451(z, mx):
    """The DMARC record cannot be fetched and nothing aligns: 451 4.7.24,
    nothing delivered (DESIGN §8)."""
    m = mx(**dict(POLICIES, resolver_timeout="1s"))
    r = send(m, BAD, "x@nospf.example", message("a@" + HANG))
    assert r.code == 451 and r.text.startswith("4.7.24"), r
    assert files(m) == {}


def test_several_from_domains_refused(z, mx):
    """RFC 7489 §6.6.1: a From: naming several domains cannot be evaluated
    as one; a forger would use it to escape p=reject, so it is refused,
    and so are several From: fields (RFC 5322 §3.6 allows one)."""
    m = mx(**POLICIES)
    r = send(m, BAD, "x@nospf.example",
             message("a@reject.example, b@none.example"))
    assert r.code == 550 and "From: names several domains" in r.text, r
    r = send(m, BAD, "x@nospf.example", message("a@none.example",
             extra="From: b@none.example\r\n"))
    assert r.code == 550 and "several From: fields" in r.text, r
    assert files(m) == {}
    rows = auth_rows(m)
    assert [(x["dmarc_result"], x["reply_code"]) for x in rows] == [
        ("permerror", 550), ("permerror", 550)]
    m2 = mx(**dict(POLICIES, dmarc_policy="log"))
    assert send(m2, BAD, "x@nospf.example",
                message("a@reject.example, b@none.example")).code == 250


def test_ehlo_keywords(z, mx):
    m = mx(**POLICIES)
    with m.connect() as c:
        r = c.cmd("EHLO client.example", 250)
    assert r.lines[-1] == "RFC3821 SPF DKIM DMARC"
