# test_report.py - end-to-end test of the field-statistics report (issue 4,
# DESIGN §6): a scripted run causes a known number of sender checks of
# every category, the daemon is stopped (which flushes the stats batch),
# and `strictmxctl stats` must print exactly the numbers the test caused,
# in the 2003 layout; then `strictmxctl cbv ADDRESS` runs one CBV against
# a scripted MX and prints its transcript and verdict.
#
# Run with -s to see the report (the lead quotes it in the issue note).

import json
import re
import time

import pytest

from cbvlib import (INSIDE, LOCAL_NETS, OUTSIDE, RCPT, ctl, final_rows,
                    finish, one_rcpt, open_session, smx, start_mx, zone)

assert smx      # the fixture, imported for pytest

# domain -> (ip of its MX, remote script)
REMOTES = {
    "acc.example": ("127.0.0.10", {"ehlo": ["250-mx.acc.example",
                                            "250-PIPELINING",
                                            "250 RFC3821 HELO-FQDN"]}),
    "welcome.example": ("127.0.0.11", {"greeting": "554 5.7.1 no CBV"}),
    "noop.example": ("127.0.0.12", {"noop": "502 5.5.1 no NOOP"}),
    "helo.example": ("127.0.0.13", {"ehlo": "502 5.5.2 unknown",
                                    "helo": "550 5.7.1 no"}),
    "mail.example": ("127.0.0.14", {"mail": "553 5.1.8 no bounces"}),
    "rcpt.example": ("127.0.0.15", {"rcpt": {
        "good@rcpt.example": "250 2.1.5 Ok",
        "*": "550 5.1.1 User unknown"}}),
    "temp.example": ("127.0.0.16", {"rcpt": "450 4.2.0 greylisted"}),
    "slow.example": ("127.0.0.17", {"rcpt": "hang"}),
}
DEAD = ("dead.example", "127.0.0.18")       # nothing listens there

# (sender, client address, report class, refused at, outcome)
#   class: skip, bad_domain, no_mx, dns_failure, bad_connect, smtp
#   refused at: the stage whose 4xx/5xx refused a probe, or None
CASES = [
    ("a1@acc.example", OUTSIDE, "smtp", None, "pass"),
    ("a2@acc.example", OUTSIDE, "smtp", None, "pass"),
    ("a3@acc.example", OUTSIDE, "smtp", None, "pass"),
    ("a1@acc.example", OUTSIDE, "skip", None, "pass"),        # cache
    ("w@welcome.example", OUTSIDE, "smtp", "welcome", "tempfail"),
    ("n@noop.example", OUTSIDE, "smtp", "noop", "tempfail"),
    ("h@helo.example", OUTSIDE, "smtp", "helo", "tempfail"),
    ("m@mail.example", OUTSIDE, "smtp", "mail", "fail"),
    ("good@rcpt.example", OUTSIDE, "smtp", None, "pass"),
    ("bad1@rcpt.example", OUTSIDE, "smtp", "rcpt", "fail"),
    ("bad2@rcpt.example", OUTSIDE, "smtp", "rcpt", "fail"),
    ("bad1@rcpt.example", OUTSIDE, "skip", None, "fail"),     # cache
    ("t@temp.example", OUTSIDE, "smtp", "rcpt", "tempfail"),
    ("d@dead.example", OUTSIDE, "bad_connect", None, "tempfail"),
    ("x@nosuch.example", OUTSIDE, "bad_domain", None, "fail"),
    ("y@bare.example", OUTSIDE, "no_mx", None, "fail"),
    ("z@nullmx.example", OUTSIDE, "no_mx", None, "fail"),
    ("b@broken.example", OUTSIDE, "dns_failure", None, "tempfail"),
    ("p@dmp.example", INSIDE, "skip", None, "pass"),          # dmp
    ("q@dmp.example", OUTSIDE, "skip", None, "fail"),         # dmp
    ("bob@test.example", INSIDE, "skip", None, "pass"),       # local
    ("eve@test.example", OUTSIDE, "skip", None, "fail"),      # local
]
# run at the same time as the others: its probe waits out cbv_timeout
SLOW = ("s@slow.example", OUTSIDE, "smtp", None, "tempfail")

LABELS = [
    ("cbv calls", "cbv_calls"), ("skips", "skips"),
    ("-bad domain", "bad_domain"), ("-no mx records", "no_mx_records"),
    ("-bad connects", "bad_connects"), ("smtp sessions", "smtp_sessions"),
    ("-refused welcome", "refused_welcome"),
    ("-refused noop", "refused_noop"), ("-refused helo", "refused_helo"),
    ("-refused mail from", "refused_mail_from"),
    ("-refused rcpt to", "refused_rcpt_to"),
]
OWN = [
    ("-dns failures", "dns_failures"), ("-accepted", "accepted"),
    ("-timeouts", "timeouts"), ("rfc3821 peers", "rfc3821_peers"),
    ("sessions", "sessions"), ("-helo refused", "helo_refused"),
    ("-helo logged", "helo_logged"),
]
# messages that reached the end of DATA, by SPF result (DESIGN §8); this
# test delivers none, so they stay 0
SPF = [("spf pass", "spf_pass"), ("spf fail", "spf_fail"),
       ("spf softfail", "spf_softfail"), ("spf neutral", "spf_neutral"),
       ("spf none", "spf_none"), ("spf temperror", "spf_temperror"),
       ("spf permerror", "spf_permerror"),
       ("spf not checked", "spf_not_checked")]
# then by DKIM and DMARC, and the dispositions DMARC causes (issue 9)
DKIM = [("dkim pass", "dkim_pass"), ("dkim fail", "dkim_fail"),
        ("dkim none", "dkim_none")]
DMARC = [("dmarc pass", "dmarc_pass"), ("dmarc fail", "dmarc_fail"),
         ("dmarc none", "dmarc_none"),
         ("dmarc temperror", "dmarc_temperror"),
         ("dmarc permerror", "dmarc_permerror"),
         ("dmarc not checked", "dmarc_not_checked"),
         ("-junk", "junk"), ("-refused by dmarc", "refused_by_dmarc")]


def expected(cases, sessions):
    """The report's numbers, from what the test did (DESIGN §6)."""
    e = {k: 0 for _, k in LABELS + OWN}
    e["cbv_calls"] = len(cases)
    cls = {"skip": "skips", "bad_domain": "bad_domain",
           "no_mx": "no_mx_records", "dns_failure": "dns_failures",
           "bad_connect": "bad_connects", "smtp": "smtp_sessions"}
    for sender, _, c, refused, outcome in cases:
        e[cls[c]] += 1
        if refused:
            e["refused_" + {"welcome": "welcome", "noop": "noop",
                            "helo": "helo", "mail": "mail_from",
                            "rcpt": "rcpt_to"}[refused]] += 1
        if outcome == "pass":
            e["accepted"] += 1
        if c == "smtp" and sender.endswith("@acc.example"):
            e["rfc3821_peers"] += 1
        if sender.endswith("@slow.example"):
            e["timeouts"] += 1
    e["sessions"] = sessions
    return e


def render(e, since, until):
    """DESIGN §6: label left-aligned to 19 columns, colon, count
    right-aligned to 8; the two last lines with a percentage of smtp
    sessions, two decimals."""
    def pct(n):
        whole = e["smtp_sessions"]
        return " (%5.2f%%)" % (100.0 * n / whole if whole else 0)
    out = ["Statistics: %s to %s" % (since, until), ""]
    for label, key in LABELS:
        line = "%-19s:%8d" % (label, e[key])
        if key in ("refused_mail_from", "refused_rcpt_to"):
            line += pct(e[key])
        out.append(line)
    out.append("")
    out += ["%-19s:%8d" % (label, e[key]) for label, key in OWN]
    out.append("")
    out += ["%-19s:%8d" % (label, e.get(key, 0)) for label, key in SPF]
    for block in (DKIM, DMARC):
        out.append("")
        out += ["%-19s:%8d" % (label, e.get(key, 0)) for label, key in block]
    return "\n".join(out) + "\n"


def test_stats_report_counts_what_happened(mx, dns, smx, tmp_path,
                                           strictmxctl_path):
    day0 = time.strftime("%Y-%m-%d")
    recs = zone({d: ip for d, (ip, _) in REMOTES.items()},
                extra=[("MX", DEAD[0], 10, "mx." + DEAD[0]),
                       ("A", "mx." + DEAD[0], DEAD[1]),
                       ("TXT", "bare.example", "v=spf1 -all"),
                       ("MX", "nullmx.example", 0, "."),
                       ("MX", "dmp.example", 10, "mx.acc.example")])
    dns(recs, servfail=["broken.example"])
    remotes = {d: smx(ip, script, host="mx." + d)
               for d, (ip, script) in REMOTES.items()}
    table = tmp_path / "dmp"
    table.write_text("dmp.example 127.0.0.200/32\n")
    m = start_mx(mx, cbv_timeout="2s", dmp_table=str(table),
                 local_sender_networks=LOCAL_NETS)
    sessions = 0

    # the slow probe first, in its own thread of time
    slow = open_session(m, SLOW[1])
    slow.cmd("MAIL FROM:<%s>" % SLOW[0], 250)
    slow.line("RCPT TO:<%s>" % RCPT)
    sessions += 1

    replies = []
    for sender, src, *_ in CASES:
        replies.append((sender, one_rcpt(m, sender, src=src).code))
        sessions += 1
    # sessions that make no check at all: a bounce, a relay attempt
    c = open_session(m)
    c.cmd("MAIL FROM:<>", 250)
    c.cmd("RCPT TO:<%s>" % RCPT, 250)
    finish(c)
    c = open_session(m)
    c.cmd("MAIL FROM:<a2@acc.example>", 250)
    c.cmd("RCPT TO:<x@elsewhere.example>", 554)
    finish(c)
    sessions += 2
    slow.expect(450, re.compile(r"timeout after RCPT TO$"), timeout=10)
    finish(slow)

    # what the clients got, class by class
    codes = dict(replies)
    for sender, _, c, refused, outcome in CASES:
        want = {"pass": 250, "fail": 550}.get(outcome, 450)
        assert codes[sender] == want, (sender, codes[sender])
    assert len(remotes["acc.example"].sessions) == 3
    assert len(remotes["rcpt.example"].sessions) == 3

    rows = final_rows(m, len(CASES) + 1)
    day1 = time.strftime("%Y-%m-%d")
    e = expected(CASES + [SLOW], sessions)
    want = render(e, day0, day1)
    args = ["stats"] if day0 == day1 else ["stats", "--since", day0,
                                           "--until", day1]
    p = ctl(strictmxctl_path, m, *args)
    print("\n$ strictmxctl -f strictmx.conf stats\n" + p.stdout)
    assert p.returncode == 0, p.stderr
    assert p.stdout == want, "report differs\n--- got\n%s--- want\n%s\n" \
        "rows: %s" % (p.stdout, want, [(r["address"], r["decided_by"],
                                        r["stage"], r["reply"])
                                       for r in rows])
    # the six classes partition the calls
    assert e["cbv_calls"] == sum(e[k] for k in (
        "skips", "bad_domain", "no_mx_records", "dns_failures",
        "bad_connects", "smtp_sessions"))

    p = ctl(strictmxctl_path, m, "stats", "--json", "--since", day0,
            "--until", day1)
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout)
    print("$ strictmxctl -f strictmx.conf stats --json\n" + p.stdout)
    for _, key in LABELS + OWN:
        assert j[key] == e[key], (key, j[key], e[key])
    for _, key in SPF + DKIM + DMARC:
        assert j[key] == 0, (key, j[key])
    assert (j["since"], j["until"]) == (day0, day1)
    assert j["refused_mail_from_percent"] == round(
        100.0 * e["refused_mail_from"] / e["smtp_sessions"], 2)
    assert j["refused_rcpt_to_percent"] == round(
        100.0 * e["refused_rcpt_to"] / e["smtp_sessions"], 2)

    # a day with nothing: all zero, 0.00%
    p = ctl(strictmxctl_path, m, "stats", "--since", "2001-01-01",
            "--until", "2001-01-02")
    assert p.stdout == render({k: 0 for _, k in LABELS + OWN},
                              "2001-01-01", "2001-01-02")


def test_strictmxctl_cbv_transcript(mx, dns, smx, strictmxctl_path):
    """The transcript, the verdict and the exit status; what the remote
    MX received is checked in test_strictmxctl_cbv_says_quit."""
    dns(zone({"rcpt.example": "127.0.0.15", "acc.example": "127.0.0.10"}))
    r = smx("127.0.0.15", REMOTES["rcpt.example"][1],
            host="mx.rcpt.example")
    a = smx("127.0.0.10", REMOTES["acc.example"][1], host="mx.acc.example")
    m = start_mx(mx, start=False)   # the config only: no daemon needed

    p = ctl(strictmxctl_path, m, "cbv", "bad1@rcpt.example")
    print("\n$ strictmxctl -f strictmx.conf cbv bad1@rcpt.example\n"
          + p.stdout + p.stderr)
    assert p.returncode == 1, p.stdout + p.stderr
    out = p.stdout.splitlines()
    assert out[0] == "address: bad1@rcpt.example"
    assert "mx rcpt.example: 10 mx.rcpt.example" in out
    want = [
        "  connect mx.rcpt.example [127.0.0.15]:25",
        "  connected",
        "  <- 220 mx.rcpt.example ESMTP scripted",
        "  -> NOOP",
        "  <- 250 2.0.0 Ok",
        "  -> EHLO mx.test.example",
        "  <- 250-mx.rcpt.example",
        "  <- 250-PIPELINING",
        "  <- 250 8BITMIME",
        "  -> MAIL FROM:<>",
        "  <- 250 2.1.0 Ok",
        "  -> RCPT TO:<bad1@rcpt.example>",
        "  <- 550 5.1.1 User unknown",
    ]
    i = out.index(want[0])
    assert out[i:i + len(want)] == want, out
    assert re.fullmatch(r"probe: fail at rcpt via mx\.rcpt\.example in "
                        r"\d+\.\ds, RFC3821 not advertised",
                        [x for x in out if x.startswith("probe: fail")][0])
    assert out[-1] == ("verdict: fail  (550 5.1.7 <bad1@rcpt.example>: "
                       "Sender address rejected: verification failed: "
                       "mx.rcpt.example said: 550 5.1.1 User unknown)")
    r.wait_closed()
    assert r.sessions[0].commands[:4] == [
        "NOOP", "EHLO mx.test.example", "MAIL FROM:<>",
        "RCPT TO:<bad1@rcpt.example>"]

    p = ctl(strictmxctl_path, m, "cbv", "a1@acc.example")
    print("$ strictmxctl -f strictmx.conf cbv a1@acc.example\n" + p.stdout)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "RFC3821 advertised" in p.stdout
    assert p.stdout.splitlines()[-1] == "verdict: pass  (250 2.1.0 Ok)"

    # no DNS name: exit 1 (a failure), said so
    p = ctl(strictmxctl_path, m, "cbv", "x@nosuch.example")
    assert p.returncode == 1
    assert "dns: nxdomain" in p.stdout.splitlines()
    p = ctl(strictmxctl_path, m, "cbv")
    assert p.returncode == 64       # a usage error, not a tempfail (2)


def test_strictmxctl_cbv_says_quit(mx, dns, smx, strictmxctl_path):
    dns(zone({"acc.example": "127.0.0.10"}))
    a = smx("127.0.0.10", host="mx.acc.example")
    m = start_mx(mx, start=False)
    p = ctl(strictmxctl_path, m, "cbv", "a1@acc.example")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "  -> QUIT" in p.stdout.splitlines()
    a.wait_closed()
    assert a.sessions[0].commands == [
        "NOOP", "EHLO mx.test.example", "MAIL FROM:<>",
        "RCPT TO:<a1@acc.example>", "QUIT"]
