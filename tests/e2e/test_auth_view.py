# test_auth_view.py - end-to-end test of `strictmxctl auth` (the DMARC
# aggregate view of DESIGN §8) and of the DKIM and DMARC lines of
# `strictmxctl stats` (issue 9): the real strictmxctl on a stats.db that
# the test writes with sqlite3 in the daemon's row format (strictmxctl(8)
# "Table auth"), no daemon needed. Local days in a fixed POSIX TZ (CET with
# its DST rule: no tzdata needed), both bounds inclusive.
#
# Run with -s to see the outputs.

import calendar
import json
import sqlite3
import subprocess
import time

# The schema 2 that strictmxd creates (smtpd/stats.c): a file of a
# released schema, as an older daemon left it.
SCHEMA = """
CREATE TABLE sessions (id TEXT, start REAL, "end" REAL, client_ip TEXT,
 ptr TEXT, helo TEXT, helo_verdict TEXT, tls INTEGER, messages INTEGER,
 rcpt_accepted INTEGER, rcpt_refused INTEGER, bytes INTEGER, ended TEXT);
CREATE TABLE cbv (time REAL, session_id TEXT, address TEXT, domain TEXT,
 decided_by TEXT, outcome TEXT, stage TEXT, mx_host TEXT, reply TEXT,
 duration REAL, rfc3821 INTEGER, enforced INTEGER);
CREATE TABLE cbv_cache (address TEXT PRIMARY KEY, outcome TEXT, stage TEXT,
 reply TEXT, mx_host TEXT, rfc3821 INTEGER, created REAL, expires REAL);
CREATE TABLE auth (time REAL, session_id TEXT, client_ip TEXT,
 mailfrom_domain TEXT, from_domain TEXT, spf_result TEXT,
 spf_identity TEXT, spf_domain TEXT, dkim TEXT, dmarc_result TEXT,
 dmarc_policy TEXT, disposition TEXT, reply_code INTEGER);
CREATE INDEX auth_time ON auth(time);
PRAGMA user_version = 2;
"""

TZ = "CET-1CEST,M3.5.0,M10.5.0/3"
# 2026-11-10 00:00 CET is 2026-11-09 23:00 UTC; the period is two days
START = calendar.timegm((2026, 11, 9, 23, 0, 0))
END = START + 2 * 86400
SINCE, UNTIL = "2026-11-10", "2026-11-11"

# (time, From: domain, client IP, spf, dkim, dmarc, policy, disposition,
#  reply code, count); None is NULL, as the daemon writes an unknown value
ROWS = [
    (START, "example.net", "192.0.2.10", "pass",
     "pass d=example.net s=sel1", "pass", "reject", "delivered", None, 2),
    (START + 3600, "example.net", "192.0.2.11", "fail",
     "fail d=example.net s=sel1", "fail", "reject", "refused", 550, 3),
    (START + 7200, "example.net", "192.0.2.11", "fail", None, "fail",
     "reject", "refused", 550, 1),
    (START + 86400, "lists.example", "198.51.100.20", "softfail",
     "pass d=lists.example s=l; fail d=example.com s=k", "pass", "none",
     "delivered", None, 1),
    (END - 0.001, "q.example", "203.0.113.30", "none", None, "fail",
     "quarantine", "junk", None, 2),
    (START + 100, "q.example", "203.0.113.30", "none", None, "temperror",
     None, "refused", 451, 1),
    # no From: domain (none, or several), DMARC off: "(none)", NULL or ""
    (START + 200, None, "192.0.2.99", None, None, None, None, "delivered",
     None, 1),
    (START + 300, "", "192.0.2.99", None, "", None, None, "delivered",
     None, 1),
    # too big: refused, not by DMARC
    (START + 400, None, "192.0.2.98", "pass", None, None, None, "refused",
     552, 1),
    # outside the period by a millisecond, and its end
    (START - 0.001, "example.net", "192.0.2.10", "pass",
     "pass d=example.net s=sel1", "pass", "reject", "delivered", None, 10),
    (END, "example.net", "192.0.2.10", "pass", "pass d=example.net s=sel1",
     "pass", "reject", "delivered", None, 10),
]

WANT_TEXT = (
    "FROM           CLIENT         MSGS  SPF            "
    "DKIM           DMARC               POLICY        DISPOSITION\n"
    "example.net    192.0.2.11        4  fail:4         "
    "fail:3 none:1  fail:4              reject:4      refused_by_dmarc:4\n"
    "example.net    192.0.2.10        2  pass:2         "
    "pass:2         pass:2              reject:2      delivered:2\n"
    "lists.example  198.51.100.20     1  softfail:1     "
    "pass:1         pass:1              none:1        delivered:1\n"
    "q.example      203.0.113.30      3  none:3         "
    "none:3         fail:2 temperror:1  quarantine:2  "
    "junk:2 refused_by_dmarc:1\n"
    "(none)         192.0.2.99        2  not_checked:2  "
    "none:2         not_checked:2       -             delivered:2\n"
    "(none)         192.0.2.98        1  pass:1         "
    "none:1         not_checked:1       -             refused_other:1\n"
)

ZERO_TOP = """\
cbv calls          :       0
skips              :       0
-bad domain        :       0
-no mx records     :       0
-bad connects      :       0
smtp sessions      :       0
-refused welcome   :       0
-refused noop      :       0
-refused helo      :       0
-refused mail from :       0 ( 0.00%)
-refused rcpt to   :       0 ( 0.00%)

-dns failures      :       0
-accepted          :       0
-timeouts          :       0
rfc3821 peers      :       0
sessions           :       0
-helo refused      :       0
-helo logged       :       0
"""

WANT_STATS = "Statistics: 2026-11-10 to 2026-11-11\n\n" + ZERO_TOP + """
spf pass           :       3
spf fail           :       4
spf softfail       :       1
spf neutral        :       0
spf none           :       3
spf temperror      :       0
spf permerror      :       0
spf not checked    :       2

dkim pass          :       3
dkim fail          :       3
dkim none          :       7

dmarc pass         :       3
dmarc fail         :       6
dmarc none         :       0
dmarc temperror    :       1
dmarc permerror    :       0
dmarc not checked  :       3
-junk              :       2
-refused by dmarc  :       5
"""


def fill(path, rows):
    con = sqlite3.connect(str(path))
    con.executescript(SCHEMA)
    for i, (t, frm, ip, spf, dkim, dmarc, pol, disp, code, n) in \
            enumerate(rows):
        for _ in range(n):
            con.execute(
                "INSERT INTO auth VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                " ?, ?)", (t, "S%d" % i, ip, "bounce.example", frm, spf,
                           "mailfrom" if spf else None,
                           "bounce.example" if spf else None, dkim, dmarc,
                           pol, disp, code))
    con.commit()
    con.close()


def run(ctl_path, db, *args, tz=TZ):
    p = subprocess.run([ctl_path, "-d", str(db)] + list(args),
                       capture_output=True, text=True, timeout=30,
                       env={"TZ": tz, "PATH": "/usr/bin:/bin"})
    return p


def counts(**kw):
    """One JSON object of the view: every key, zero unless given."""
    keys = ["spf_pass", "spf_fail", "spf_softfail", "spf_neutral",
            "spf_none", "spf_temperror", "spf_permerror", "spf_not_checked",
            "dkim_pass", "dkim_fail", "dkim_none",
            "dmarc_pass", "dmarc_fail", "dmarc_none", "dmarc_temperror",
            "dmarc_permerror", "dmarc_not_checked",
            "policy_none", "policy_quarantine", "policy_reject",
            "delivered", "junk", "refused_by_dmarc", "refused_other"]
    assert set(kw) <= set(keys + ["from_domain", "client_ip", "messages"])
    return dict([("from_domain", kw.pop("from_domain")),
                 ("client_ip", kw.pop("client_ip")),
                 ("messages", kw.pop("messages"))] +
                [(k, kw.get(k, 0)) for k in keys])


WANT_JSON = [
    counts(from_domain="example.net", client_ip="192.0.2.11", messages=4,
           spf_fail=4, dkim_fail=3, dkim_none=1, dmarc_fail=4,
           policy_reject=4, refused_by_dmarc=4),
    counts(from_domain="example.net", client_ip="192.0.2.10", messages=2,
           spf_pass=2, dkim_pass=2, dmarc_pass=2, policy_reject=2,
           delivered=2),
    counts(from_domain="lists.example", client_ip="198.51.100.20",
           messages=1, spf_softfail=1, dkim_pass=1, dmarc_pass=1,
           policy_none=1, delivered=1),
    counts(from_domain="q.example", client_ip="203.0.113.30", messages=3,
           spf_none=3, dkim_none=3, dmarc_fail=2, dmarc_temperror=1,
           policy_quarantine=2, junk=2, refused_by_dmarc=1),
    counts(from_domain=None, client_ip="192.0.2.99", messages=2,
           spf_not_checked=2, dkim_none=2, dmarc_not_checked=2,
           delivered=2),
    counts(from_domain=None, client_ip="192.0.2.98", messages=1,
           spf_pass=1, dkim_none=1, dmarc_not_checked=1, refused_other=1),
]


def test_auth_view_text(tmp_path, strictmxctl_path):
    db = tmp_path / "stats.db"
    fill(db, ROWS)
    p = run(strictmxctl_path, db, "auth", "--since", SINCE, "--until", UNTIL)
    print("\n$ strictmxctl -d stats.db auth --since %s --until %s\n%s"
          % (SINCE, UNTIL, p.stdout))
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    assert p.stdout == WANT_TEXT, "got\n" + p.stdout
    # the --name=value form too
    p = run(strictmxctl_path, db, "auth", "--since=" + SINCE,
            "--until=" + UNTIL)
    assert p.stdout == WANT_TEXT
    # one day: the first day's rows, the last instant of the second out
    p = run(strictmxctl_path, db, "auth", "--since", SINCE, "--until",
            SINCE)
    assert p.returncode == 0, p.stderr
    assert [ln.split()[:3] for ln in p.stdout.splitlines()] == [
        ["FROM", "CLIENT", "MSGS"],
        ["example.net", "192.0.2.11", "4"],
        ["example.net", "192.0.2.10", "2"],
        ["q.example", "203.0.113.30", "1"],
        ["(none)", "192.0.2.99", "2"],
        ["(none)", "192.0.2.98", "1"]]
    # the day before and the day after: only what lies outside
    for day in ("2026-11-09", "2026-11-12"):
        p = run(strictmxctl_path, db, "auth", "--since", day, "--until",
                day)
        assert p.stdout.splitlines()[1:] == [
            "example.net  192.0.2.10    10  pass:10  pass:10  pass:10"
            "  reject:10  delivered:10"], p.stdout


def test_auth_view_json(tmp_path, strictmxctl_path):
    db = tmp_path / "stats.db"
    fill(db, ROWS)
    p = run(strictmxctl_path, db, "auth", "--json", "--since", SINCE,
            "--until", UNTIL)
    print("\n$ strictmxctl -d stats.db auth --json ...\n" + p.stdout)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == WANT_JSON
    # one object a line, keys in the documented order
    lines = p.stdout.splitlines()
    assert lines[0] == "[" and lines[-1] == "]" and len(lines) == 8
    assert lines[1].startswith('  {"from_domain": "example.net", '
                               '"client_ip": "192.0.2.11", "messages": 4, '
                               '"spf_pass": 0, "spf_fail": 4, ')
    assert lines[1].endswith('"refused_by_dmarc": 4, "refused_other": 0},')
    p = run(strictmxctl_path, db, "auth", "--json", "--since",
            "2001-01-01", "--until", "2001-01-01")
    assert (p.returncode, p.stdout) == (0, "[]\n")


def test_auth_view_today_and_errors(tmp_path, strictmxctl_path):
    db = tmp_path / "stats.db"
    now = time.time()
    fill(db, ROWS + [(now, "today.example", "127.0.0.1", "pass",
                      "pass d=today.example s=a", "pass", "reject",
                      "delivered", None, 1)])
    # the default period is today (local time of the tool)
    p = run(strictmxctl_path, db, "auth", tz="UTC0")
    assert p.returncode == 0, p.stderr
    assert p.stdout == (
        "FROM           CLIENT     MSGS  SPF     DKIM    DMARC   POLICY"
        "    DISPOSITION\n"
        "today.example  127.0.0.1     1  pass:1  pass:1  pass:1  reject:1"
        "  delivered:1\n")
    for args in (["--since", "2026-11-12", "--until", "2026-11-10"],
                 ["--since", "2026-02-30"], ["--bogus"], ["--until"]):
        p = run(strictmxctl_path, db, "auth", *args)
        assert p.returncode == 64, (args, p.stdout, p.stderr)
        assert p.stdout == ""
        assert "usage:" in p.stderr
    p = run(strictmxctl_path, db, "-h")
    assert p.returncode == 0
    assert ("strictmxctl [-f file | -d dbfile ...] auth [--since YYYY-MM-DD]"
            " [--until YYYY-MM-DD] [--json]") in p.stdout
    # not a stats database
    other = tmp_path / "other.db"
    sqlite3.connect(str(other)).close()
    p = run(strictmxctl_path, other, "auth")
    assert p.returncode == 1 and "not a strictmx stats database" in p.stderr


def test_stats_dkim_dmarc_lines(tmp_path, strictmxctl_path):
    db = tmp_path / "stats.db"
    fill(db, ROWS)
    p = run(strictmxctl_path, db, "stats", "--since", SINCE, "--until",
            UNTIL)
    print("\n$ strictmxctl -d stats.db stats --since %s --until %s\n%s"
          % (SINCE, UNTIL, p.stdout))
    assert p.returncode == 0, p.stderr
    assert p.stdout == WANT_STATS, "got\n" + p.stdout
    p = run(strictmxctl_path, db, "stats", "--json", "--since", SINCE,
            "--until", UNTIL)
    j = json.loads(p.stdout)
    want = {"spf_pass": 3, "spf_fail": 4, "spf_softfail": 1,
            "spf_neutral": 0, "spf_none": 3, "spf_temperror": 0,
            "spf_permerror": 0, "spf_not_checked": 2,
            "dkim_pass": 3, "dkim_fail": 3, "dkim_none": 7,
            "dmarc_pass": 3, "dmarc_fail": 6, "dmarc_none": 0,
            "dmarc_temperror": 1, "dmarc_permerror": 0,
            "dmarc_not_checked": 3, "junk": 2, "refused_by_dmarc": 5}
    assert {k: j[k] for k in want} == want
    # the new keys come last, before the two percentages
    keys = list(j)
    assert keys[keys.index("spf_not_checked") + 1:] == list(want)[8:] + [
        "refused_mail_from_percent", "refused_rcpt_to_percent"]
    # the view of the same period adds up to the stats lines
    v = json.loads(run(strictmxctl_path, db, "auth", "--json", "--since",
                       SINCE, "--until", UNTIL).stdout)
    for k in want:
        assert sum(r[k] for r in v) == j[k], k
