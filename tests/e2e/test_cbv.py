# test_cbv.py - end-to-end tests of issue 4: the return-path policy of
# MAIL FROM and its call-back verification (CBV), against the real
# strictmxd, a real DNS server (dnsmasq) and scripted remote MXes on
# 127.0.0.x:25, in run.sh's private network namespace.
#
# Each test asserts the reply the client gets, the exact command lines
# the remote MX received, and the rows of the cbv and cbv_cache tables.
# Config: sender_policy enforce, cbv yes, helo_policy off (cbvlib.CBV_CONF).
# Reply texts are sender_verdict.c's: "CODE ENH <addr>: Sender address
# rejected: TEXT".

import re
import threading
import time

import pytest

from e2elib import wait_until
from cbvlib import (H, INSIDE, LOCAL_NETS, OUTSIDE, PROBE_HELO, RCPT,
                    cache_rows, check_sender, final_rows, finish,
                    mx_records, one_rcpt, open_session, probe_cmds,
                    rejected, rows, smx, blackhole, start_mx, zone)

assert smx and blackhole    # the fixtures, imported for pytest

GOOD = "good.example"
MXH = "mx.good.example"
IP = "127.0.0.10"
JOE = "joe@good.example"


def good_remote(dns, smx, script=None, ip=IP, domain=GOOD, extra=()):
    """DNS: DOMAIN MX 10 mx.DOMAIN -> ip; a scripted MX there."""
    dns(zone({domain: ip}, extra))
    return smx(ip, script, host="mx." + domain)


def only_session(r, timeout=5.0):
    """The remote saw exactly one connection, now closed: its commands."""
    r.wait_sessions(1, timeout)
    r.wait_closed(timeout)
    assert len(r.sessions) == 1, "remote saw %d connections" % len(r.sessions)
    return r.sessions[0].commands


def sub(row, *keys):
    return {k: row[k] for k in keys}


# -- the checks that decide without a probe, in order ------------------------

def test_null_sender_accepted_without_probe(mx, dns, smx):
    r = good_remote(dns, smx)
    m = start_mx(mx)
    c = open_session(m)
    c.cmd("MAIL FROM:<>", 250, "2.1.0 Ok")
    c.cmd("RCPT TO:<%s>" % RCPT, 250, "2.1.5 Ok")
    finish(c, deliver=True)
    final_rows(m, 0)
    assert r.sessions == []
    assert m.maildir("alice").count() == 1


def test_local_domain_spoofing(mx, dns, smx):
    # test.example has an MX (a remote that would accept): never probed
    r = good_remote(dns, smx, domain="test.example")
    m = start_mx(mx, local_sender_networks=LOCAL_NETS)
    rep = one_rcpt(m, "bob@test.example", src=OUTSIDE)
    assert (rep.code, rep.text) == (550, rejected(
        "550", "5.7.1", "bob@test.example",
        "not allowed to use a local domain from your network"))
    rep = one_rcpt(m, "bob@test.example", src=INSIDE)
    assert rep.code == 250
    # the domain in any case is still ours
    rep = one_rcpt(m, "bob@Test.EXAMPLE", src=OUTSIDE)
    assert rep.code == 550 and "5.7.1" in rep.text
    rs = final_rows(m, 3)
    assert [sub(x, "address", "domain", "decided_by", "outcome", "stage")
            for x in rs] == [
        {"address": "bob@test.example", "domain": "test.example",
         "decided_by": "local", "outcome": "fail", "stage": ""},
        {"address": "bob@test.example", "domain": "test.example",
         "decided_by": "local", "outcome": "pass", "stage": ""},
        {"address": "bob@test.example", "domain": "test.example",
         "decided_by": "local", "outcome": "fail", "stage": ""}]
    assert r.sessions == []
    assert cache_rows(m) == []


def test_local_domain_without_local_sender_networks(mx, dns):
    dns([])
    m = start_mx(mx)        # local_sender_networks none: nobody may
    rep = one_rcpt(m, "bob@test.example", src=INSIDE)
    assert rep.code == 550 and rep.text.startswith("5.7.1 <bob@test.")


def test_dmp_table_pass_and_fail(mx, dns, smx, tmp_path):
    r = good_remote(dns, smx, domain="dmp.example")
    table = tmp_path / "dmp"
    table.write_text("# domain  networks\n"
                     "dmp.example  127.0.0.200/32 192.0.2.0/24\n")
    m = start_mx(mx, dmp_table=str(table))
    assert one_rcpt(m, "ann@dmp.example", src=INSIDE).code == 250
    rep = one_rcpt(m, "ann@dmp.example", src=OUTSIDE)
    assert (rep.code, rep.text) == (550, rejected(
        "550", "5.7.1", "ann@dmp.example",
        "domain dmp.example does not send mail from 127.0.0.100"))
    rs = final_rows(m, 2)
    assert [sub(x, "decided_by", "outcome") for x in rs] == [
        {"decided_by": "dmp", "outcome": "pass"},
        {"decided_by": "dmp", "outcome": "fail"}]
    assert r.sessions == []
    assert cache_rows(m) == []


def test_nxdomain(mx, dns, smx):
    r = good_remote(dns, smx)
    m = start_mx(mx)
    rep = one_rcpt(m, "who@nosuch.example")
    assert (rep.code, rep.text) == (550, rejected(
        "550", "5.1.8", "who@nosuch.example", "Domain not found"))
    (row,) = final_rows(m, 1)
    assert sub(row, "decided_by", "outcome", "stage", "mx_host", "domain") \
        == {"decided_by": "dns", "outcome": "fail", "stage": "nxdomain",
            "mx_host": "", "domain": "nosuch.example"}
    (ce,) = cache_rows(m)
    assert sub(ce, "address", "outcome", "stage") == {
        "address": "who@nosuch.example", "outcome": "fail",
        "stage": "nxdomain"}
    # negative TTL, default 2h
    assert abs(ce["expires"] - ce["created"] - 7200) < 1
    assert r.sessions == []


def test_implicit_mx_from_a_record(mx, dns, smx):
    dns([("A", "imp.example", "127.0.0.11")])
    r = smx("127.0.0.11", host="imp.example")
    m = start_mx(mx)
    assert one_rcpt(m, "ima@imp.example").code == 250
    assert only_session(r) == probe_cmds("ima@imp.example") + ["QUIT"]
    (row,) = final_rows(m, 1)
    assert sub(row, "decided_by", "outcome", "stage", "mx_host") == {
        "decided_by": "probe", "outcome": "pass", "stage": "rcpt",
        "mx_host": "imp.example"}


def test_no_mx_and_no_address(mx, dns):
    dns([("TXT", "bare.example", "v=spf1 -all")])
    m = start_mx(mx)
    rep = one_rcpt(m, "x@bare.example")
    assert (rep.code, rep.text) == (550, rejected(
        "550", "5.1.8", "x@bare.example",
        "Domain has no MX or address record"))
    (row,) = final_rows(m, 1)
    assert sub(row, "decided_by", "outcome", "stage") == {
        "decided_by": "dns", "outcome": "fail", "stage": "nomx"}


def test_null_mx(mx, dns, smx):
    # dnsmasq serves "MX 0 ." (--mx-host=nullmx.example,.,0; the harness
    # self-test test_dns_zone_answers checks the answer on the wire)
    dns([("MX", "nullmx.example", 0, "."),
         ("A", "nullmx.example", "127.0.0.12")])
    r = smx("127.0.0.12", host="nullmx.example")
    m = start_mx(mx)
    rep = one_rcpt(m, "n@nullmx.example")
    assert (rep.code, rep.text) == (550, rejected(
        "550", "5.7.27", "n@nullmx.example",
        "Domain does not accept mail (null MX)"))
    (row,) = final_rows(m, 1)
    assert sub(row, "decided_by", "outcome", "stage") == {
        "decided_by": "dns", "outcome": "fail", "stage": "nullmx"}
    assert r.sessions == []     # not probed at its address either


@pytest.mark.parametrize("action", ["tempfail", "accept"])
def test_dns_temporary_failure(mx, dns, action):
    dns([], servfail=["broken.example"])
    m = start_mx(mx, cbv_on_tempfail=action)
    rep = one_rcpt(m, "b@broken.example")
    if action == "tempfail":
        assert (rep.code, rep.text) == (450, rejected(
            "450", "4.1.8", "b@broken.example",
            "cannot resolve domain (DNS temporary failure)"))
    else:
        assert (rep.code, rep.text) == (250, "2.1.5 Ok")
    (row,) = final_rows(m, 1)
    assert sub(row, "decided_by", "outcome", "stage") == {
        "decided_by": "dns", "outcome": "tempfail", "stage": "tempfail"}


# -- the CBV dialogue ---------------------------------------------------------

def test_probe_accept_exact_dialogue(mx, dns, smx):
    r = good_remote(dns, smx)
    m = start_mx(mx)
    c, rep = check_sender(m, JOE)
    assert (rep.code, rep.text) == (250, "2.1.5 Ok")
    finish(c, deliver=True)
    assert only_session(r) == ["NOOP", "EHLO mx.test.example",
                               "MAIL FROM:<>", "RCPT TO:<%s>" % JOE, "QUIT"]
    assert r.sessions[0].ended_by == "server"      # after our QUIT
    assert r.sessions[0].messages == []            # a probe sends no mail
    (row,) = final_rows(m, 1)
    assert sub(row, "address", "domain", "decided_by", "outcome", "stage",
               "mx_host", "reply", "rfc3821") == {
        "address": JOE, "domain": GOOD, "decided_by": "probe",
        "outcome": "pass", "stage": "rcpt", "mx_host": MXH,
        "reply": "250 2.1.5 Ok", "rfc3821": 0}
    assert 0 <= row["duration"] < 5
    assert m.maildir("alice").count() == 1


def test_probe_without_noop(mx, dns, smx):
    r = good_remote(dns, smx)
    m = start_mx(mx, cbv_noop="no")
    assert one_rcpt(m, JOE).code == 250
    assert only_session(r) == probe_cmds(JOE, noop=False) + ["QUIT"]


def test_probe_sender_setting(mx, dns, smx):
    r = good_remote(dns, smx)
    m = start_mx(mx, cbv_probe_sender="<cbv@test.example>")
    assert one_rcpt(m, JOE).code == 250
    assert only_session(r)[2] == "MAIL FROM:<cbv@test.example>"


def unverified(stage, text, mx=MXH):
    return "unverified: %s at %s: %s" % (mx, stage, text)


# 5xx at each stage: (name, script, conf, client code/enh, reply text,
# remote commands, row stage, row outcome)
REFUSALS = [
    ("greeting", {"greeting": "554 5.7.1 go away"}, {},
     450, "4.1.7", "unverified: %s refused our call-back at greeting: "
     "554 5.7.1 go away" % MXH, ["QUIT"], "greeting", "tempfail"),
    ("greeting-reject", {"greeting": "554 5.7.1 go away"},
     {"cbv_on_refused_early": "reject"}, 550, "5.1.7",
     "unverified: %s refused our call-back at greeting: 554 5.7.1 go away"
     % MXH, ["QUIT"], "greeting", "fail"),
    ("greeting-accept", {"greeting": "554 5.7.1 go away"},
     {"cbv_on_refused_early": "accept"}, 250, None, None, ["QUIT"],
     "greeting", "tempfail"),
    ("noop", {"noop": "502 5.5.1 NOOP not here"}, {},
     450, "4.1.7", "unverified: %s refused our call-back at noop: "
     "502 5.5.1 NOOP not here" % MXH, ["NOOP", "QUIT"], "noop", "tempfail"),
    ("ehlo-helo", {"ehlo": "502 5.5.2 Error: command not recognized",
                   "helo": "550 5.7.1 not you"}, {},
     450, "4.1.7", "unverified: %s refused our call-back at helo: "
     "550 5.7.1 not you" % MXH,
     ["NOOP", PROBE_HELO, "HELO " + H, "QUIT"], "helo", "tempfail"),
    ("mail-reject", {"mail": "553 5.1.8 no bounces here"}, {},
     550, "5.1.7", "%s refuses the null sender (bounces): 553 5.1.8 no "
     "bounces here" % MXH, ["NOOP", PROBE_HELO, "MAIL FROM:<>", "QUIT"],
     "mail", "fail"),
    ("mail-tempfail", {"mail": "553 5.1.8 no bounces here"},
     {"cbv_on_refused_mail": "tempfail"}, 450, "4.1.7",
     "%s refuses the null sender (bounces): 553 5.1.8 no bounces here"
     % MXH, ["NOOP", PROBE_HELO, "MAIL FROM:<>", "QUIT"], "mail",
     "tempfail"),
    ("mail-accept", {"mail": "553 5.1.8 no bounces here"},
     {"cbv_on_refused_mail": "accept"}, 250, None, None,
     ["NOOP", PROBE_HELO, "MAIL FROM:<>", "QUIT"], "mail", "tempfail"),
    ("rcpt", {"rcpt": "550 5.1.1 <%s>: Recipient address rejected: "
              "User unknown" % JOE}, {},
     550, "5.1.7", "verification failed: %s said: 550 5.1.1 <%s>: "
     "Recipient address rejected: User unknown" % (MXH, JOE),
     probe_cmds(JOE) + ["QUIT"], "rcpt", "fail"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_refused_5xx(mx, dns, smx, case):
    _, script, conf, code, enh, text, cmds, stage, outcome = case
    r = good_remote(dns, smx, script)
    m = start_mx(mx, **conf)
    rep = one_rcpt(m, JOE)
    if code == 250:
        assert (rep.code, rep.text) == (250, "2.1.5 Ok")
    else:
        assert (rep.code, rep.text) == (code, rejected(str(code), enh,
                                                       JOE, text))
    assert only_session(r) == cmds
    (row,) = final_rows(m, 1)
    assert sub(row, "decided_by", "outcome", "stage", "mx_host") == {
        "decided_by": "probe", "outcome": outcome, "stage": stage,
        "mx_host": MXH}
    assert row["reply"][:1] == "5"


def test_ehlo_refused_helo_accepted(mx, dns, smx):
    r = good_remote(dns, smx, {"ehlo": "500 5.5.2 what?"})
    m = start_mx(mx)
    assert one_rcpt(m, JOE).code == 250
    assert only_session(r) == ["NOOP", PROBE_HELO, "HELO " + H,
                               "MAIL FROM:<>", "RCPT TO:<%s>" % JOE, "QUIT"]


# 4xx at each stage -> 450 4.1.7, QUIT sent
TEMPFAILS = [
    ("greeting", {"greeting": "421 4.3.2 busy"}, "greeting",
     "421 4.3.2 busy", ["QUIT"]),
    ("noop", {"noop": "421 4.3.2 busy"}, "noop", "421 4.3.2 busy",
     ["NOOP", "QUIT"]),
    ("ehlo", {"ehlo": "421 4.3.2 busy"}, "helo", "421 4.3.2 busy",
     ["NOOP", PROBE_HELO, "QUIT"]),
    ("helo", {"ehlo": "502 5.5.2 unknown", "helo": "421 4.3.2 busy"},
     "helo", "421 4.3.2 busy", ["NOOP", PROBE_HELO, "HELO " + H, "QUIT"]),
    ("mail", {"mail": "451 4.3.0 try later"}, "mail", "451 4.3.0 try later",
     ["NOOP", PROBE_HELO, "MAIL FROM:<>", "QUIT"]),
    ("rcpt", {"rcpt": "450 4.2.0 greylisted"}, "rcpt",
     "450 4.2.0 greylisted", probe_cmds(JOE) + ["QUIT"]),
]


@pytest.mark.parametrize("case", TEMPFAILS, ids=[c[0] for c in TEMPFAILS])
def test_tempfail_4xx(mx, dns, smx, case):
    _, script, stage, reply, cmds = case
    r = good_remote(dns, smx, script)
    m = start_mx(mx)
    rep = one_rcpt(m, JOE)
    assert (rep.code, rep.text) == (450, rejected(
        "450", "4.1.7", JOE, unverified(stage, reply)))
    assert only_session(r) == cmds
    (row,) = final_rows(m, 1)
    assert sub(row, "decided_by", "outcome", "stage", "reply") == {
        "decided_by": "probe", "outcome": "tempfail", "stage": stage,
        "reply": reply}


def test_tempfail_accept(mx, dns, smx):
    r = good_remote(dns, smx, {"rcpt": "450 4.2.0 greylisted"})
    m = start_mx(mx, cbv_on_tempfail="accept")
    c, rep = check_sender(m, JOE)
    assert (rep.code, rep.text) == (250, "2.1.5 Ok")
    finish(c, deliver=True)
    only_session(r)
    (row,) = final_rows(m, 1)
    assert (row["outcome"], row["stage"]) == ("tempfail", "rcpt")


@pytest.mark.parametrize("where,stage,after,cmds", [
    ("greeting", "greeting", "waiting for greeting", []),
    ("rcpt", "rcpt", "after RCPT TO", probe_cmds(JOE)),
])
def test_hang_times_out(mx, dns, smx, where, stage, after, cmds):
    r = good_remote(dns, smx, {where: "hang"})
    m = start_mx(mx, cbv_timeout="3s")
    c = open_session(m)
    c.cmd("MAIL FROM:<%s>" % JOE, 250)
    t0 = time.monotonic()
    rep = c.cmd("RCPT TO:<%s>" % RCPT, timeout=10)
    took = time.monotonic() - t0
    finish(c)
    assert (rep.code, rep.text) == (450, rejected(
        "450", "4.1.7", JOE, unverified(stage, "timeout " + after)))
    assert 2.5 < took < 4.5, "verdict after %.2fs, cbv_timeout 3s" % took
    r.wait_closed()
    assert len(r.sessions) == 1
    assert r.sessions[0].commands == cmds    # no QUIT into a hang
    assert r.sessions[0].ended_by == "client"
    (row,) = final_rows(m, 1)
    assert sub(row, "outcome", "stage", "reply") == {
        "outcome": "tempfail", "stage": stage, "reply": "timeout " + after}


@pytest.mark.parametrize("script,stage,reply,cmds", [
    ({"greeting": "drop"}, "greeting", "connection lost waiting for greeting",
     []),
    ({"noop": "drop"}, "noop", "connection lost after NOOP", ["NOOP"]),
    ({"rcpt": "drop"}, "rcpt", "connection lost after RCPT TO",
     probe_cmds(JOE)),
    ({"ehlo": "garbage"}, "helo", "malformed reply after EHLO",
     ["NOOP", PROBE_HELO]),
    ({"mail": ("raw", b"250 2.1.0 Ok\x00\r\n", "")}, "rcpt",
     "connection lost after RCPT TO", None),
    ({"rcpt": "550 5.1.1 " + "x" * 600}, "rcpt",
     "oversized reply after RCPT TO", probe_cmds(JOE)),
    ({"ehlo": ["250-" + "k" * 100] * 50 + ["250 8BITMIME"]}, "helo",
     "oversized reply after EHLO", ["NOOP", PROBE_HELO]),
], ids=["drop-greeting", "drop-noop", "drop-rcpt", "garbage-ehlo",
        "nul-in-reply", "long-line", "huge-multiline"])
def test_broken_remote(mx, dns, smx, script, stage, reply, cmds):
    if "mail" in script:
        # a NUL inside an otherwise good reply is printable-cleaned, not
        # garbage: the dialogue goes on; the remote then drops at RCPT
        script = dict(script, rcpt="drop")
    r = good_remote(dns, smx, script)
    m = start_mx(mx)
    rep = one_rcpt(m, JOE)
    assert (rep.code, rep.text) == (450, rejected(
        "450", "4.1.7", JOE, unverified(stage, reply)))
    r.wait_closed()
    if cmds is not None:
        assert r.sessions[0].commands == cmds    # no QUIT after breakage
    (row,) = final_rows(m, 1)
    assert sub(row, "outcome", "stage", "reply") == {
        "outcome": "tempfail", "stage": stage, "reply": reply}


def test_multiline_replies_split_across_packets(mx, dns, smx):
    gap = 0.05
    r = good_remote(dns, smx, {
        "greeting": ("split", ["220-mx.good.example ESMTP\r\n22",
                               "0 second line\r", "\n"], gap),
        "ehlo": ("split", ["250-mx.good.example\r\n250-PIPE",
                           "LINING\r\n250-RFC3821 HELO-FQDN CBV\r\n25",
                           "0 8BITMIME\r\n"], gap),
        "rcpt": ("split", ["550-5.1.1 first line\r\n",
                           "550-5.1.1 second line\r\n550 5.1.1 ",
                           "last line\r\n"], gap),
    })
    m = start_mx(mx)
    rep = one_rcpt(m, JOE)
    assert (rep.code, rep.text) == (550, rejected(
        "550", "5.1.7", JOE, "verification failed: %s said: 550 5.1.1 "
        "first line 5.1.1 second line 5.1.1 last line" % MXH))
    assert only_session(r) == probe_cmds(JOE) + ["QUIT"]
    (row,) = final_rows(m, 1)
    assert row["rfc3821"] == 1
    assert row["reply"] == ("550 5.1.1 first line 5.1.1 second line "
                            "5.1.1 last line")


def test_rfc3821_advertised_recorded(mx, dns, smx):
    r = good_remote(dns, smx, {"ehlo": ["250-mx.good.example",
                                        "250-PIPELINING", "250 RFC3821"]})
    m = start_mx(mx)
    assert one_rcpt(m, JOE).code == 250
    only_session(r)
    (row,) = final_rows(m, 1)
    assert (row["outcome"], row["rfc3821"]) == ("pass", 1)
    assert cache_rows(m)[0]["rfc3821"] == 1


def test_remote_reply_sanitised_and_cut(mx, dns, smx):
    evil = "550 5.1.1 bad \u00e9\x01\x7f user " + "y" * 300
    r = good_remote(dns, smx, {"rcpt": evil})
    m = start_mx(mx)
    rep = one_rcpt(m, JOE)
    assert rep.code == 550
    # UTF-8 e-acute is two octets, each made '?'; text cut at 200 octets
    quoted = ("550 5.1.1 bad ???? user " + "y" * 300)[:200]
    assert rep.text == rejected("550", "5.1.7", JOE,
                                "verification failed: %s said: %s"
                                % (MXH, quoted))
    assert len(rep.raw) <= 512
    only_session(r)


def test_mx_preference_order_and_fallback(mx, dns, smx):
    # mx1 (pref 5) refuses the connection (nothing listens there), mx2
    # (pref 10) takes the probe, mx3 (pref 20) is never needed
    dns(mx_records(GOOD, "127.0.0.13", 5, "mx1.good.example")
        + mx_records(GOOD, "127.0.0.14", 10, "mx2.good.example")
        + mx_records(GOOD, "127.0.0.15", 20, "mx3.good.example"))
    r2 = smx("127.0.0.14", host="mx2.good.example")
    r3 = smx("127.0.0.15", host="mx3.good.example")
    m = start_mx(mx)
    assert one_rcpt(m, JOE).code == 250
    assert only_session(r2) == probe_cmds(JOE) + ["QUIT"]
    assert r3.sessions == []
    (row,) = final_rows(m, 1)
    assert (row["mx_host"], row["stage"]) == ("mx2.good.example", "rcpt")


def test_greeting_4xx_goes_to_next_mx(mx, dns, smx):
    dns(mx_records(GOOD, "127.0.0.13", 10, "mx1.good.example")
        + mx_records(GOOD, "127.0.0.14", 20, "mx2.good.example"))
    r1 = smx("127.0.0.13", {"greeting": "421 4.3.2 busy"},
             host="mx1.good.example")
    r2 = smx("127.0.0.14", {"rcpt": "550 5.1.1 no such user"},
             host="mx2.good.example")
    m = start_mx(mx)
    rep = one_rcpt(m, JOE)
    assert (rep.code, rep.text) == (550, rejected(
        "550", "5.1.7", JOE, "verification failed: mx2.good.example said: "
        "550 5.1.1 no such user"))
    assert only_session(r1) == ["QUIT"]
    assert only_session(r2) == probe_cmds(JOE) + ["QUIT"]


def test_no_mx_host_accepts_a_connection(mx, dns):
    dns(mx_records(GOOD, "127.0.0.13", 10, "mx1.good.example")
        + mx_records(GOOD, "127.0.0.14", 20, "mx2.good.example"))
    m = start_mx(mx)
    rep = one_rcpt(m, JOE)
    assert (rep.code, rep.text) == (450, rejected(
        "450", "4.1.7", JOE, "unverified: connect to mx2.good.example "
        "[127.0.0.14]:25: Connection refused"))
    (row,) = final_rows(m, 1)
    assert sub(row, "decided_by", "outcome", "stage") == {
        "decided_by": "probe", "outcome": "tempfail", "stage": "connect"}


# -- when the verdict is given ------------------------------------------------

def test_no_probe_for_relay_or_unknown_user(mx, dns, smx):
    r = good_remote(dns, smx, {"rcpt": "550 5.1.1 unknown"})
    m = start_mx(mx)
    # a session with only a relay attempt and an unknown user: no check
    c = open_session(m)
    c.cmd("MAIL FROM:<%s>" % JOE, 250, "2.1.0 Ok")
    c.cmd("RCPT TO:<x@elsewhere.example>", 554,
          "5.7.1 <x@elsewhere.example>: Relay access denied")
    c.cmd("RCPT TO:<nobody@test.example>", 550,
          "5.1.1 <nobody@test.example>: Recipient address rejected: "
          "User unknown")
    finish(c)
    assert r.sessions == []
    # the first valid RCPT gets the verdict; a second one the same answer,
    # without a second check
    want = rejected("550", "5.1.7", JOE, "verification failed: %s said: "
                    "550 5.1.1 unknown" % MXH)
    c = open_session(m)
    c.cmd("MAIL FROM:<%s>" % JOE, 250, "2.1.0 Ok")
    c.cmd("RCPT TO:<x@elsewhere.example>", 554)
    assert r.sessions == []
    c.cmd("RCPT TO:<%s>" % RCPT, 550, want)
    c.cmd("RCPT TO:<bob@test.example>", 550, want)
    c.cmd("DATA", 503, "5.5.1 Error: need RCPT command")
    finish(c)
    assert only_session(r) == probe_cmds(JOE) + ["QUIT"]
    # one row: the first session, without a valid RCPT, made no check
    (row,) = final_rows(m, 1)
    assert row["session_id"] == rows(m, "SELECT id FROM sessions "
                                     "ORDER BY rowid")[1]["id"]


def test_cbv_stage_mail(mx, dns, smx):
    dns(zone({GOOD: IP, "bad.example": "127.0.0.11"}))
    good = smx(IP, host=MXH)
    bad = smx("127.0.0.11", {"rcpt": "550 5.1.1 unknown"},
              host="mx.bad.example")
    m = start_mx(mx, cbv_stage="mail")
    c = open_session(m)
    c.cmd("MAIL FROM:<b@bad.example>", 550, rejected(
        "550", "5.1.7", "b@bad.example", "verification failed: "
        "mx.bad.example said: 550 5.1.1 unknown"))
    c.cmd("RCPT TO:<%s>" % RCPT, 503, "5.5.1 Error: need MAIL command")
    assert only_session(bad) == probe_cmds("b@bad.example") + ["QUIT"]
    c.cmd("MAIL FROM:<%s>" % JOE, 250, "2.1.0 Ok")
    assert only_session(good) == probe_cmds(JOE) + ["QUIT"]
    c.cmd("RCPT TO:<x@elsewhere.example>", 554)
    c.cmd("RCPT TO:<%s>" % RCPT, 250, "2.1.5 Ok")
    finish(c, deliver=True)
    assert len(final_rows(m, 2)) == 2


def test_pipelined_commands_wait_for_the_verdict(mx, dns, smx):
    dns(zone({GOOD: IP, "bad.example": "127.0.0.11"}))
    smx(IP, {"greeting": ("delay", 0.4, "220 mx.good.example ESMTP")},
        host=MXH)
    smx("127.0.0.11", {"greeting": ("delay", 0.4, "220 x ESMTP"),
                       "rcpt": "550 5.1.1 unknown"}, host="mx.bad.example")
    m = start_mx(mx)
    c = open_session(m)
    c.send("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nRCPT TO:<bob@test.example>"
           "\r\nDATA\r\n" % (JOE, RCPT))
    got = [c.read_reply() for _ in range(4)]
    assert [(x.code, x.text) for x in got] == [
        (250, "2.1.0 Ok"), (250, "2.1.5 Ok"), (250, "2.1.5 Ok"),
        (354, "End data with <CR><LF>.<CR><LF>")]
    c.send(b"Subject: p\r\n\r\nbody\r\n.\r\n")
    c.expect(250)
    bad = rejected("550", "5.1.7", "b@bad.example", "verification failed: "
                   "mx.bad.example said: 550 5.1.1 unknown")
    c.send("MAIL FROM:<b@bad.example>\r\nRCPT TO:<%s>\r\n"
           "RCPT TO:<bob@test.example>\r\nDATA\r\n" % RCPT)
    got = [c.read_reply() for _ in range(4)]
    assert [(x.code, x.text) for x in got] == [
        (250, "2.1.0 Ok"), (550, bad), (550, bad),
        (503, "5.5.1 Error: need RCPT command")]
    finish(c)
    assert m.maildir("alice").count() == 1


def test_pipelined_at_mail_stage(mx, dns, smx):
    good_remote(dns, smx, {"greeting": ("delay", 0.4, "220 mx ESMTP"),
                           "rcpt": "550 5.1.1 unknown"})
    m = start_mx(mx, cbv_stage="mail")
    c = open_session(m)
    c.send("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (JOE, RCPT))
    got = [c.read_reply() for _ in range(3)]
    assert [(x.code, x.text) for x in got] == [
        (550, rejected("550", "5.1.7", JOE, "verification failed: %s "
                       "said: 550 5.1.1 unknown" % MXH)),
        (503, "5.5.1 Error: need MAIL command"),
        (503, "5.5.1 Error: need MAIL command")]
    finish(c)
    (row,) = final_rows(m, 1)
    assert (row["decided_by"], row["outcome"]) == ("probe", "fail")


# -- the cache ----------------------------------------------------------------

def test_cache_second_message_no_second_probe(mx, dns, smx):
    r = good_remote(dns, smx)
    m = start_mx(mx)
    c, rep = check_sender(m, JOE)
    assert rep.code == 250
    finish(c, deliver=True)
    # a second message right away (the cache write may still be pending)
    # and, in another session, a third with the domain in other case
    c, rep = check_sender(m, JOE)
    assert rep.code == 250
    finish(c, deliver=True)
    c, rep = check_sender(m, "joe@GOOD.Example")
    assert rep.code == 250
    finish(c)
    assert only_session(r) == probe_cmds(JOE) + ["QUIT"]
    rs = final_rows(m, 3)
    assert [sub(x, "address", "decided_by", "outcome", "stage", "mx_host")
            for x in rs] == [
        {"address": JOE, "decided_by": d, "outcome": "pass",
         "stage": "rcpt", "mx_host": MXH} for d in ("probe", "cache",
                                                    "cache")]
    (ce,) = cache_rows(m)
    assert sub(ce, "address", "outcome", "stage", "mx_host", "reply") == {
        "address": JOE, "outcome": "pass", "stage": "rcpt", "mx_host": MXH,
        "reply": "250 2.1.5 Ok"}
    assert abs(ce["expires"] - ce["created"] - 7 * 86400) < 1


def test_cache_negative_gives_the_same_reply(mx, dns, smx):
    r = good_remote(dns, smx, {"rcpt": "550 5.1.1 unknown"})
    m = start_mx(mx)
    first = one_rcpt(m, JOE)
    second = one_rcpt(m, JOE)
    assert first.code == 550 and first.full == second.full
    only_session(r)
    assert [x["decided_by"] for x in final_rows(m, 2)] == ["probe", "cache"]


def test_cache_expiry(mx, dns, smx):
    r = good_remote(dns, smx)
    m = start_mx(mx, cbv_cache_positive="2s")
    t0 = time.time()
    assert one_rcpt(m, JOE).code == 250
    t1 = time.time()
    only_session(r)
    assert one_rcpt(m, JOE).code == 250     # still cached
    # the entry was made between t0 and t1 and lives 2 s
    wait_until(lambda: time.time() > t1 + 2.05, 4,
               what="cache entry to expire")
    assert one_rcpt(m, JOE).code == 250
    r.wait_sessions(2)
    r.wait_closed()
    assert len(r.sessions) == 2
    assert [x["decided_by"] for x in final_rows(m, 3)] == [
        "probe", "cache", "probe"]
    (ce,) = cache_rows(m)
    assert ce["created"] > t1 + 2       # the second probe's entry
    assert abs(ce["expires"] - ce["created"] - 2) < 0.01


def test_cache_survives_restart(mx, dns, smx):
    r = good_remote(dns, smx)
    m = start_mx(mx)
    assert one_rcpt(m, JOE).code == 250
    only_session(r)
    m.stop()
    m.start()
    assert one_rcpt(m, JOE).code == 250
    assert len(r.sessions) == 1
    assert [x["decided_by"] for x in final_rows(m, 2)] == ["probe", "cache"]


def test_strictmxctl_cache_list_delete_flush(mx, dns, smx, strictmxctl_path):
    from cbvlib import ctl
    r = good_remote(dns, smx, {"rcpt": {JOE: "250 2.1.5 Ok",
                                        "*": "550 5.1.1 unknown"}})
    m = start_mx(mx)
    assert one_rcpt(m, JOE).code == 250
    assert one_rcpt(m, "eve@good.example").code == 550
    wait_until(lambda: len(cache_rows(m)) == 2, 3, what="2 cache rows")
    p = ctl(strictmxctl_path, m, "cache", "list")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[-1] == "2 entries"
    # a title row, then aligned columns (as `sessions`): each column
    # starts where its title starts
    day = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    assert re.fullmatch(r"ADDRESS +OUTCOME +STAGE +EXPIRES +REPLY",
                        lines[0]), lines
    assert re.fullmatch(r"eve@good\.example +fail +rcpt +%s +550 5\.1\.1 "
                        r"unknown" % day, lines[1]), lines
    assert re.fullmatch(r"joe@good\.example +pass +rcpt +%s +250 2\.1\.5 Ok"
                        % day, lines[2]), lines
    for title in ("OUTCOME", "STAGE", "EXPIRES", "REPLY"):
        col = lines[0].index(title)
        assert all(x[col - 2:col] == "  " and x[col] != " "
                   for x in lines[1:3]), (title, lines)
    p = ctl(strictmxctl_path, m, "cache", "delete", JOE)
    assert (p.returncode, p.stdout) == (0, "deleted %s\n" % JOE), p.stderr
    p = ctl(strictmxctl_path, m, "cache", "delete", JOE)
    assert (p.returncode, p.stdout) == (1, "%s: not in the cache\n" % JOE)
    assert one_rcpt(m, JOE).code == 250         # probed again
    assert one_rcpt(m, "eve@good.example").code == 550  # still cached
    r.wait_sessions(3)
    r.wait_closed()
    assert len(r.sessions) == 3
    wait_until(lambda: len(cache_rows(m)) == 2, 3, what="2 cache rows")
    p = ctl(strictmxctl_path, m, "cache", "flush")
    assert (p.returncode, p.stdout) == (0, "flushed 2 entries\n"), p.stderr
    assert cache_rows(m) == []
    assert one_rcpt(m, "eve@good.example").code == 550  # probed again
    r.wait_sessions(4)
    assert [x["decided_by"] for x in final_rows(m, 5)] == [
        "probe", "probe", "probe", "cache", "probe"]
    p = ctl(strictmxctl_path, m, "cache", "bogus")
    assert p.returncode == 64


# -- sharing and limits -------------------------------------------------------

def test_coalescing_ten_sessions_one_probe(mx, dns, smx):
    gate = threading.Event()

    def rcpt(line):
        gate.wait(10)
        return "250 2.1.5 Ok"
    r = good_remote(dns, smx, {"rcpt": rcpt})
    m = start_mx(mx)
    clients = [open_session(m) for _ in range(10)]
    for c in clients:
        c.cmd("MAIL FROM:<%s>" % JOE, 250)
        c.line("RCPT TO:<%s>" % RCPT)
    wait_until(lambda: r.commands[-1:] == ["RCPT TO:<%s>" % JOE], 5,
               what="the probe's RCPT")
    # every session has sent its RCPT: give the daemon a moment to read
    # them all (they join the probe in flight), then let the remote answer
    time.sleep(0.3)
    gate.set()
    for c in clients:
        c.expect(250, "2.1.5 Ok", timeout=10)
        finish(c)
    assert only_session(r) == probe_cmds(JOE) + ["QUIT"]
    rs = final_rows(m, 10)
    assert [x["decided_by"] for x in rs] == ["probe"] * 10
    assert len({x["session_id"] for x in rs}) == 10


def test_per_domain_limit_queues(mx, dns, smx):
    r = good_remote(dns, smx, {"greeting": ("delay", 0.3,
                                            "220 mx.good.example ESMTP")})
    m = start_mx(mx, cbv_max_per_domain="2")
    senders = ["u%d@good.example" % i for i in range(6)]
    clients = []
    for s in senders:
        c = open_session(m)
        c.cmd("MAIL FROM:<%s>" % s, 250)
        clients.append(c)
    t0 = time.monotonic()
    for c in clients:
        c.line("RCPT TO:<%s>" % RCPT)
    for c in clients:
        c.expect(250, "2.1.5 Ok", timeout=10)
        finish(c)
    took = time.monotonic() - t0
    r.wait_closed()
    assert r.accepted == 6
    assert r.max_active == 2, "max probes in flight %d" % r.max_active
    # three rounds of two probes, each ~0.3 s
    assert 0.85 < took < 5, took
    assert sorted(x["address"] for x in final_rows(m, 6)) == senders


# -- sender_policy log and the EHLO keyword -----------------------------------

def test_sender_policy_log_records_but_accepts(mx, dns, smx):
    r = good_remote(dns, smx, {"rcpt": "550 5.1.1 unknown"})
    m = start_mx(mx, sender_policy="log")
    c, rep = check_sender(m, JOE)
    assert (rep.code, rep.text) == (250, "2.1.5 Ok")
    finish(c, deliver=True)
    c, rep = check_sender(m, "who@nosuch.example")
    assert rep.code == 250
    finish(c)
    only_session(r)
    rs = final_rows(m, 2)
    assert [sub(x, "decided_by", "outcome", "stage", "enforced")
            for x in rs] == [
        {"decided_by": "probe", "outcome": "fail", "stage": "rcpt",
         "enforced": 0},
        {"decided_by": "dns", "outcome": "fail", "stage": "nxdomain",
         "enforced": 0}]
    m.wait_log(re.escape("sender policy would refuse (log mode): 550 5.1.7 "
                         "<%s>: Sender address rejected: verification "
                         "failed: %s said: 550 5.1.1 unknown" % (JOE, MXH)))
    m.wait_log(re.escape("sender policy would refuse (log mode): 550 5.1.8 "
                         "<who@nosuch.example>"))
    assert m.maildir("alice").count() == 1


@pytest.mark.parametrize("conf,last", [
    ({}, "RFC3821 RETURN-PATH CBV"),
    ({"cbv": "no"}, "RFC3821 RETURN-PATH"),
    ({"sender_policy": "log"}, "RFC3821"),
])
def test_ehlo_keyword(mx, dns, conf, last):
    dns([])
    m = start_mx(mx, **conf)
    c = m.connect()
    rep = c.cmd("EHLO client.example", 250)
    assert rep.lines[-1] == last
    finish(c)


def test_enforced_flag_on_pass_rows(mx, dns, smx):
    """strictmxctl(8): enforced is 0 only when sender_policy log let the
    message through; under enforce every row says 1."""
    r = good_remote(dns, smx)
    m = start_mx(mx)
    assert one_rcpt(m, JOE).code == 250
    only_session(r)
    (row,) = final_rows(m, 1)
    assert row["enforced"] == 1


# -- Done when: a hanging MX blocks nobody else -------------------------------

def test_hanging_mx_does_not_block_100_sessions(mx, dns, smx):
    fast = {"fast%d.example" % i: "127.0.0.%d" % (31 + i) for i in range(5)}
    dns(zone(dict(fast, **{"hang.example": "127.0.0.30"})))
    hang = smx("127.0.0.30", {"rcpt": "hang"}, host="mx.hang.example")
    remotes = [smx(ip, host="mx." + d) for d, ip in fast.items()]
    m = start_mx(mx, cbv_timeout="3s", max_clients_per_ip="500",
                 max_clients="500")
    hc = open_session(m)
    hc.cmd("MAIL FROM:<stuck@hang.example>", 250)
    hc.line("RCPT TO:<%s>" % RCPT)
    wait_until(lambda: hang.commands[-1:] == ["RCPT TO:<stuck@hang.example>"],
               5, what="the hanging probe's RCPT")
    errors, times = [], []
    domains = sorted(fast)

    def one(i):
        try:
            t = time.monotonic()
            c = m.connect(src="127.0.1.%d" % (i + 1), timeout=10)
            c.cmd("EHLO client%d.example" % i, 250)
            c.cmd("MAIL FROM:<user%d@%s>" % (i, domains[i % 5]), 250)
            c.cmd("RCPT TO:<%s>" % RCPT, 250, "2.1.5 Ok", timeout=10)
            c.cmd("DATA", 354)
            c.send(b"Subject: %d\r\n\r\nbody\r\n.\r\n" % i)
            c.expect(250, timeout=10)
            c.cmd("QUIT", 221)
            times.append(time.monotonic() - t)
        except Exception as e:      # collected, asserted below
            errors.append("%d: %s" % (i, e))
    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    took = time.monotonic() - t0
    assert errors == [], errors[:5]
    assert len(times) == 100
    # all 100 done well inside the hanging probe's 3 s budget
    assert took < 2.5, "100 sessions took %.2fs" % took
    assert not hc.is_closed() and hc.buf == b""
    print("100 sessions beside a hanging MX: %.2fs (slowest %.2fs)"
          % (took, max(times)))
    assert sum(len(x.sessions) for x in remotes) == 100
    assert m.maildir("alice").count() == 100
    hc.expect(450, re.compile(r"^4\.1\.7 <stuck@hang\.example>: .*timeout "
                              r"after RCPT TO$"), timeout=10)
    finish(hc)


# -- more edges: who is checked, MX lists, lifetimes --------------------------

def test_exempt_client_and_policy_off_make_no_check(mx, dns, smx):
    r = good_remote(dns, smx)
    m = start_mx(mx, exempt_clients="127.0.0.100/32")
    assert one_rcpt(m, JOE, src=OUTSIDE).code == 250            # exempt
    assert one_rcpt(m, "x@nosuch.example", src=OUTSIDE).code == 250
    assert one_rcpt(m, "x@nosuch.example", src=INSIDE).code == 550
    final_rows(m, 1)
    assert r.sessions == []
    m2 = start_mx(mx, sender_policy="off")
    assert one_rcpt(m2, "x@nosuch.example").code == 250
    assert one_rcpt(m2, JOE).code == 250
    final_rows(m2, 0)
    assert r.sessions == []


def test_cbv_no_keeps_the_dns_checks(mx, dns, smx):
    r = good_remote(dns, smx)
    m = start_mx(mx, cbv="no")
    assert one_rcpt(m, "x@nosuch.example").code == 550
    assert one_rcpt(m, JOE).code == 250
    rs = final_rows(m, 2)
    assert [sub(x, "decided_by", "outcome", "stage") for x in rs] == [
        {"decided_by": "dns", "outcome": "fail", "stage": "nxdomain"},
        {"decided_by": "dns", "outcome": "pass", "stage": "ok"}]
    assert r.sessions == []


def test_quoted_local_part_probed_as_such(mx, dns, smx):
    r = good_remote(dns, smx)
    m = start_mx(mx)
    sender = '"john doe"@good.example'
    assert one_rcpt(m, sender).code == 250
    assert only_session(r) == probe_cmds(sender) + ["QUIT"]
    # the local part is the remote's to interpret: another case, another
    # probe
    assert one_rcpt(m, "JOE@good.example").code == 250
    assert one_rcpt(m, JOE).code == 250
    r.wait_sessions(3)
    r.wait_closed()
    assert [s.commands[3] for s in r.sessions] == [
        "RCPT TO:<%s>" % sender, "RCPT TO:<JOE@good.example>",
        "RCPT TO:<%s>" % JOE]
    assert [x["address"] for x in final_rows(m, 3)] == [
        sender, "JOE@good.example", JOE]


def test_mx_host_without_address_is_skipped(mx, dns, smx):
    dns([("MX", GOOD, 10, "gone.good.example")]
        + mx_records(GOOD, "127.0.0.14", 20, "mx2.good.example"))
    r = smx("127.0.0.14", host="mx2.good.example")
    m = start_mx(mx)
    assert one_rcpt(m, JOE).code == 250
    only_session(r)
    (row,) = final_rows(m, 1)
    assert row["mx_host"] == "mx2.good.example"


def test_cbv_max_mx_limits_the_hosts_tried(mx, dns, smx):
    dns(mx_records(GOOD, "127.0.0.13", 10, "mx1.good.example")
        + mx_records(GOOD, "127.0.0.14", 20, "mx2.good.example"))
    r = smx("127.0.0.14", host="mx2.good.example")
    m = start_mx(mx, cbv_max_mx="1")
    rep = one_rcpt(m, JOE)
    assert (rep.code, rep.text) == (450, rejected(
        "450", "4.1.7", JOE, "unverified: connect to mx1.good.example "
        "[127.0.0.13]:25: Connection refused"))
    assert r.sessions == []


def test_ipv6_address_first_then_ipv4(mx, dns, smx):
    # mx.good.example: AAAA ::1 (nothing listens there) and A 127.0.0.10;
    # mx.six.example: AAAA ::1 only, with a remote on [::1]:25
    dns(zone({GOOD: IP}) + [("AAAA", MXH, "::1"),
                            ("MX", "six.example", 10, "mx.six.example"),
                            ("AAAA", "mx.six.example", "::1")])
    r4 = smx(IP, host=MXH)
    m = start_mx(mx)
    assert one_rcpt(m, JOE).code == 250
    only_session(r4)
    r6 = smx("::1", host="mx.six.example")
    assert one_rcpt(m, "v6@six.example").code == 250
    assert only_session(r6) == probe_cmds("v6@six.example") + ["QUIT"]
    assert [x["outcome"] for x in final_rows(m, 2)] == ["pass", "pass"]


def test_tempfail_is_cached_briefly(mx, dns, smx):
    r = good_remote(dns, smx, {"rcpt": "450 4.2.0 greylisted"})
    m = start_mx(mx)
    first = one_rcpt(m, JOE)
    second = one_rcpt(m, JOE)
    assert first.code == 450 and first.full == second.full
    only_session(r)
    assert [x["decided_by"] for x in final_rows(m, 2)] == ["probe", "cache"]
    (ce,) = cache_rows(m)
    assert (ce["outcome"], ce["stage"]) == ("tempfail", "rcpt")
    assert abs(ce["expires"] - ce["created"] - 300) < 1   # 5m default


def test_timeout_in_queue(mx, dns, smx):
    dns(zone({GOOD: IP, "far.example": "127.0.0.11"}))
    smx(IP, {"rcpt": "hang"}, host=MXH)
    # B's MX never greets: should B get the slot at the last moment (A's
    # deadline, submitted a moment earlier, frees it just before B's own),
    # it still cannot reach a verdict within its budget.
    other = smx("127.0.0.11", {"greeting": "hang"}, host="mx.far.example")
    m = start_mx(mx, cbv_max_concurrent="1", cbv_timeout="2s")
    a = open_session(m)
    a.cmd("MAIL FROM:<%s>" % JOE, 250)
    a.line("RCPT TO:<%s>" % RCPT)
    b = open_session(m)
    b.cmd("MAIL FROM:<q@far.example>", 250)
    t0 = time.monotonic()
    b.line("RCPT TO:<%s>" % RCPT)
    rep = b.read_reply(timeout=5)
    assert rep.code == 450 and "4.1.7" in rep.text and \
        "unverified: " in rep.text and "timeout" in rep.text, rep
    assert 1.5 < time.monotonic() - t0 < 3.5
    a.expect(450, timeout=5)
    finish(a)
    finish(b)
    assert all(s.commands == [] for s in other.sessions)
    rs = final_rows(m, 2)
    q = [x for x in rs if x["address"] == "q@far.example"][0]
    assert sub(q, "decided_by", "outcome") == {
        "decided_by": "probe", "outcome": "tempfail"}
    assert "timeout" in q["reply"], q


def test_client_leaves_while_its_probe_runs(mx, dns, smx):
    gate = threading.Event()

    def rcpt(line):
        gate.wait(10)
        return "250 2.1.5 Ok"
    r = good_remote(dns, smx, {"rcpt": rcpt})
    m = start_mx(mx)
    # two sessions share the probe; the first leaves, the second gets it
    a, b = open_session(m), open_session(m)
    for c in (a, b):
        c.cmd("MAIL FROM:<%s>" % JOE, 250)
        c.line("RCPT TO:<%s>" % RCPT)
    wait_until(lambda: r.commands[-1:] == ["RCPT TO:<%s>" % JOE], 5,
               what="the probe's RCPT")
    time.sleep(0.2)             # b joins the probe in flight
    a.close()
    time.sleep(0.2)             # the daemon sees a leave
    gate.set()
    b.expect(250, "2.1.5 Ok", timeout=5)
    finish(b)
    assert only_session(r) == probe_cmds(JOE) + ["QUIT"]
    # now the only waiter leaves: the probe is dropped, politely
    gate.clear()
    c = open_session(m)
    c.cmd("MAIL FROM:<solo@good.example>", 250)
    c.line("RCPT TO:<%s>" % RCPT)
    wait_until(lambda: r.commands[-1:] == ["RCPT TO:<solo@good.example>"],
               5, what="the second probe's RCPT")
    c.close()
    time.sleep(0.2)
    gate.set()
    r.wait_sessions(2)
    r.wait_closed()
    assert r.sessions[1].commands == probe_cmds("solo@good.example") + [
        "QUIT"]
    # the daemon lives on
    assert one_rcpt(m, "new@good.example").code == 250
    rs = final_rows(m)
    assert [x["address"] for x in rs] == [JOE, "new@good.example"]


def test_sigterm_while_a_probe_runs(mx, dns, smx):
    r = good_remote(dns, smx, {"rcpt": "hang"})
    m = start_mx(mx)
    c = open_session(m)
    c.cmd("MAIL FROM:<%s>" % JOE, 250)
    c.line("RCPT TO:<%s>" % RCPT)
    wait_until(lambda: r.commands[-1:] == ["RCPT TO:<%s>" % JOE], 5,
               what="the probe's RCPT")
    t0 = time.monotonic()
    m.stop()
    assert time.monotonic() - t0 < 3
    c.expect(421, "4.3.2 %s Service shutting down" % H)
    c.expect_close()
    r.wait_closed()


def test_sighup_while_a_probe_runs(mx, dns, smx):
    gate = threading.Event()

    def rcpt(line):
        gate.wait(10)
        return "550 5.1.1 unknown"
    r = good_remote(dns, smx, {"rcpt": rcpt})
    m = start_mx(mx)
    c = open_session(m)
    c.cmd("MAIL FROM:<%s>" % JOE, 250)
    c.line("RCPT TO:<%s>" % RCPT)
    wait_until(lambda: r.commands[-1:] == ["RCPT TO:<%s>" % JOE], 5,
               what="the probe's RCPT")
    m.configure(cbv_noop="no")
    m.hup()
    gate.set()
    c.expect(550, rejected("550", "5.1.7", JOE, "verification failed: %s "
                           "said: 550 5.1.1 unknown" % MXH))
    finish(c)
    gate.clear()
    gate.set()
    assert one_rcpt(m, "two@good.example").code == 550
    r.wait_sessions(2)
    r.wait_closed()
    assert r.sessions[1].commands == probe_cmds("two@good.example",
                                                noop=False) + ["QUIT"]


def test_connect_timeout_then_next_mx(mx, dns, smx, blackhole):
    dns(mx_records(GOOD, "127.0.0.13", 10, "mx1.good.example")
        + mx_records(GOOD, "127.0.0.14", 20, "mx2.good.example"))
    blackhole("127.0.0.13")
    r = smx("127.0.0.14", host="mx2.good.example")
    m = start_mx(mx, cbv_connect_timeout="1s")
    t0 = time.monotonic()
    assert one_rcpt(m, JOE).code == 250
    assert 0.9 < time.monotonic() - t0 < 3
    assert only_session(r) == probe_cmds(JOE) + ["QUIT"]
    # with every MX unreachable the budget runs out while connecting
    m2 = start_mx(mx, cbv_connect_timeout="2s", cbv_timeout="1s",
                  cbv_cache_tempfail="0s")
    r.stop()
    rep = one_rcpt(m2, "x@good.example")
    assert (rep.code, rep.text) == (450, rejected(
        "450", "4.1.7", "x@good.example",
        "unverified: timeout while connecting"))
    (row,) = final_rows(m2, 1)
    assert sub(row, "outcome", "stage", "mx_host", "reply") == {
        "outcome": "tempfail", "stage": "connect",
        "mx_host": "mx1.good.example", "reply": "timeout while connecting"}


def test_smtputf8_sender_probed_with_smtputf8(mx, dns, smx):
    """RFC 6531 3.4: a non-ASCII return path is probed only with the
    SMTPUTF8 parameter, at an MX that offers it."""
    r = good_remote(dns, smx, {
        "ehlo": ["250-mx.good.example", "250-SMTPUTF8", "250 8BITMIME"],
        "mail": lambda line: "250 2.1.0 Ok" if line.upper().endswith(
            " SMTPUTF8") else "550 5.6.7 SMTPUTF8 parameter required",
        "rcpt": "250 2.1.5 Ok"})
    m = start_mx(mx)
    c = open_session(m)
    c.cmd("MAIL FROM:<j\u00f6e@good.example> SMTPUTF8", 250)
    rep = c.cmd("RCPT TO:<%s>" % RCPT)
    finish(c)
    cmds = only_session(r)
    assert cmds[2] == "MAIL FROM:<> SMTPUTF8", cmds
    assert rep.code == 250, rep


@pytest.mark.parametrize("action", [None, "accept", "reject"])
def test_smtputf8_sender_at_mx_without_smtputf8(mx, dns, smx, action):
    """An MX that does not offer SMTPUTF8 may not be asked about a
    non-ASCII address (RFC 6531 §3.4), today or on any retry: not a 450
    retried for days but cbv_on_unverifiable (default accept), whatever
    cbv_on_tempfail says; nothing is sent after EHLO but QUIT; the row is
    decided_by unverifiable (a skip), not cached, and logged without -v."""
    r = good_remote(dns, smx, {"rcpt": "250 2.1.5 Ok"})
    conf = {"cbv_on_tempfail": "tempfail"}
    if action:
        conf["cbv_on_unverifiable"] = action
    m = start_mx(mx, **conf)
    sender = "j\u00f6e@good.example"
    c = open_session(m)
    c.cmd("MAIL FROM:<%s> SMTPUTF8" % sender, 250)
    rep = c.cmd("RCPT TO:<%s>" % RCPT)
    finish(c)
    why = "unverifiable: no SMTPUTF8 offered for a non-ASCII address"
    if action == "reject":
        assert rep.code == 550, rep
        # our reply line is ASCII: the address as sender_verdict shows it
        assert rep.text == rejected("550", "5.1.7", "j??e@good.example",
                                    why), rep
    else:
        assert rep.code == 250, rep
    cmds = only_session(r)
    assert not any(x.startswith(("MAIL", "RCPT")) for x in cmds), cmds
    assert cmds[-1] == "QUIT", cmds
    rs = final_rows(m, 1)
    assert sub(rs[0], "decided_by", "outcome", "stage", "reply") == {
        "decided_by": "unverifiable",
        "outcome": "fail" if action == "reject" else "tempfail",
        "stage": "helo",
        "reply": "no SMTPUTF8 offered for a non-ASCII address"}, rs
    assert cache_rows(m) == []
    assert re.search(r"session=\S+ sender=<j\\xc3\\xb6e@good\.example> "
                     + re.escape(why) + " \\((refused|accepted, "
                     "cbv_on_unverifiable)\\)", m.log()), m.log_tail()


def test_session_timeout_while_the_probe_hangs(mx, dns, smx):
    r = good_remote(dns, smx, {"rcpt": "hang"})
    m = start_mx(mx, timeout_command="1s", cbv_timeout="5s")
    c = open_session(m)
    c.cmd("MAIL FROM:<%s>" % JOE, 250)
    t0 = time.monotonic()
    c.line("RCPT TO:<%s>" % RCPT)
    c.expect(421, "4.4.2 %s Error: timeout exceeded" % H, timeout=5)
    assert time.monotonic() - t0 < 2.5
    c.expect_close()
    # nobody waits for the probe any more: it is dropped, with a QUIT
    # into the hang; the daemon goes on
    wait_until(lambda: r.commands == probe_cmds(JOE) + ["QUIT"], 3,
               what="the probe's QUIT")
    assert one_rcpt(m, "x@nosuch.example").code == 550
    final_rows(m, 1)


@pytest.mark.parametrize("new_limit", [None, "3", "1"])
def test_reload_while_probes_are_queued(mx, dns, smx, new_limit):
    """Issue 11 item 13: SIGHUP (twice) while probes wait in the queue for
    cbv_max_concurrent never lets more probes run at the scripted MX than
    the limit in force when each started: the same limit, a higher one
    (only new starts may use it) or a lower one (running probes finish,
    no queued one starts until the count is below it)."""
    r = good_remote(dns, smx, {"greeting": ("delay", 0.4,
                                            "220 mx.good.example ESMTP")})
    m = start_mx(mx, cbv_max_concurrent="2", cbv_max_per_domain="100")
    senders = ["q%d@good.example" % i for i in range(8)]
    clients = []
    for s in senders:
        c = open_session(m)
        c.cmd("MAIL FROM:<%s>" % s, 250)
        clients.append(c)
    for c in clients:
        c.line("RCPT TO:<%s>" % RCPT)
    wait_until(lambda: r.accepted >= 2, 5, what="the first two probes")
    if new_limit is not None:
        m.configure(cbv_max_concurrent=new_limit)
    m.hup()
    time.sleep(0.1)
    m.hup()
    for c in clients:
        c.expect(250, "2.1.5 Ok", timeout=15)
        finish(c)
    r.wait_closed()
    assert r.accepted == 8
    limit = max(2, int(new_limit or 2))
    assert r.max_active <= limit, "max probes in flight %d, limit %d" % (
        r.max_active, limit)
    if new_limit == "3":        # the new limit is used once in force
        assert r.max_active == 3, r.max_active
    assert sorted(x["address"] for x in final_rows(m, 8)) == senders
