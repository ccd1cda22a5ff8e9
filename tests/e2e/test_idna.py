# test_idna.py - end-to-end tests of IDNA before every DNS check (issue 8,
# DESIGN section 8): a U-label sender domain or HELO name is looked up by
# its A-label form, and one that cannot be converted is a syntax error,
# never an unverified pass. The real strictmxd, dnsmasq holding only the
# A-label names, and a scripted remote MX on 127.0.0.10:25 (as in
# test_cbv.py), in run.sh's private network namespace.

from cbvlib import (RCPT, final_rows, finish, open_session, smx, start_mx,
                    zone)
from helolib import hello, refusal, session_rows

assert smx    # the fixture, imported for pytest

ULABEL = "b\u00fccher.example"           # bücher.example
ALABEL = "xn--bcher-kva.example"
IP = "127.0.0.10"
SENDER = "user@" + ULABEL
UTF8_MX = {"ehlo": ["250-mx." + ALABEL, "250-SMTPUTF8", "250 8BITMIME"],
           "mail": "250 2.1.0 Ok", "rcpt": "250 2.1.5 Ok"}


def test_utf8_sender_verified_through_alabel(mx, dns, smx):
    """MAIL FROM a U-label domain: MX lookup of the A-label name, probe at
    the MX found there, with the address as the client wrote it."""
    dns(zone({ALABEL: IP}))
    r = smx(IP, UTF8_MX, host="mx." + ALABEL)
    m = start_mx(mx)
    c = open_session(m)
    c.cmd("MAIL FROM:<%s> SMTPUTF8" % SENDER, 250, "2.1.0 Ok")
    rep = c.cmd("RCPT TO:<%s>" % RCPT, timeout=15)
    assert (rep.code, rep.text) == (250, "2.1.5 Ok"), rep
    finish(c, deliver=True)
    r.wait_sessions(1, 5)
    r.wait_closed(5)
    cmds = r.sessions[0].commands
    assert cmds[2] == "MAIL FROM:<> SMTPUTF8", cmds
    # the scripted MX keeps each line as latin-1 text: the UTF-8 octets
    assert cmds[3] == "RCPT TO:<%s>" % SENDER.encode().decode("latin-1"), \
        cmds
    (row,) = final_rows(m, 1)
    assert {k: row[k] for k in ("address", "domain", "decided_by",
                                "outcome", "stage", "mx_host")} == {
        "address": SENDER, "domain": ALABEL, "decided_by": "probe",
        "outcome": "pass", "stage": "rcpt", "mx_host": "mx." + ALABEL}
    assert m.maildir("alice").count() == 1


def test_utf8_sender_refused_by_its_mx(mx, dns, smx):
    """The verdict really comes from the MX found through the A-label
    name: one that refuses the address gets the sender refused (no more
    accepted unverified)."""
    dns(zone({ALABEL: IP}))
    smx(IP, dict(UTF8_MX, rcpt="550 5.1.1 no such user"),
        host="mx." + ALABEL)
    m = start_mx(mx)
    c = open_session(m)
    c.cmd("MAIL FROM:<%s> SMTPUTF8" % SENDER, 250, "2.1.0 Ok")
    rep = c.cmd("RCPT TO:<%s>" % RCPT, timeout=15)
    assert rep.code == 550, rep
    finish(c)
    (row,) = final_rows(m, 1)
    assert (row["domain"], row["outcome"]) == (ALABEL, "fail"), row


def test_unconvertible_sender_domain_553(mx, dns, smx):
    """A domain that is not IDNA2008 (U+2603 is disallowed) cannot be
    looked up: 553 5.1.7 at MAIL, no check, no row, the session goes on."""
    dns(zone({ALABEL: IP}))
    r = smx(IP, UTF8_MX, host="mx." + ALABEL)
    m = start_mx(mx)
    c = open_session(m)
    for bad in ("user@\u2603.example", "user@a\u200db.example"):
        rep = c.cmd("MAIL FROM:<%s> SMTPUTF8" % bad)
        assert (rep.code, rep.text) == (553, "5.1.7 Bad sender address "
                                        "syntax: domain is not a valid "
                                        "internationalized domain name"), rep
    c.cmd("MAIL FROM:<%s> SMTPUTF8" % SENDER, 250, "2.1.0 Ok")
    finish(c)
    final_rows(m, 0)
    assert r.sessions == []


def test_helo_ulabel_matches_client(mx, dns):
    """EHLO with a U-label name whose A-label form resolves to the client:
    250; one that cannot be converted: 501 5.5.2 with the reason."""
    dns([("A", ALABEL, "127.0.0.5")])
    m = mx(helo_policy="enforce", helo_match="a")
    hello(m, "127.0.0.5", ULABEL, 250)
    hello(m, "127.0.0.5", "B\u00dcCHER.Example.", 250)
    r = hello(m, "127.0.0.6", ULABEL, 550)
    assert r.text == refusal(ALABEL, "helo name %s does not resolve to "
                             "127.0.0.6" % ALABEL), r
    r = hello(m, "127.0.0.5", "\u2603.example", 501)
    assert r.text == ("5.5.2 <???.example>: Helo command rejected: invalid "
                      "helo name: not a valid internationalized domain "
                      "name (IDNA2008)"), r
    rows = session_rows(m)
    assert [x["helo_verdict"] for x in rows] == [
        "pass", "pass", "fail-match", "fail-syntax"], rows
