# test_ctl.py - strictmxctl on a filled stats database (issue 11 items 8,
# 10, 12): options after the command, exit statuses (64 for a usage error,
# never 2, which is tempfail), -d refused where it cannot work, cbv-log,
# metrics in the Prometheus text format with values equal to the rows,
# and several --db files merged into one report.
#
# The schema is the daemon's own: strictmxd creates stats.db, the test
# stops it and fills the tables.

import random
import re
import signal
import sqlite3
import subprocess
import time

import pytest


def make_db(mx, hostname="mx.test.example"):
    m = mx(hostname=hostname)
    m.signal(signal.SIGTERM)
    assert m.wait(10) == 0
    return m.stats_db


def run(ctl, *args):
    return subprocess.run([ctl] + list(args), capture_output=True,
                          text=True, timeout=30)


SESSION = ("INSERT INTO sessions (id, start, \"end\", client_ip, ptr, helo,"
           " helo_verdict, tls, messages, rcpt_accepted, rcpt_refused,"
           " bytes, ended) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)")
CBV = ("INSERT INTO cbv (time, session_id, address, domain, decided_by,"
       " outcome, stage, mx_host, reply, duration, rfc3821, enforced)"
       " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")
AUTH = ("INSERT INTO auth (time, session_id, client_ip, mailfrom_domain,"
        " from_domain, spf_result, spf_identity, spf_domain, dkim,"
        " dmarc_result, dmarc_policy, disposition, reply_code)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)")
CACHE = ("INSERT INTO cbv_cache (address, outcome, stage, reply, mx_host,"
         " rfc3821, created, expires) VALUES (?,?,?,?,?,?,?,?)")


def fill(path, seed, n=60):
    """Random but known rows; returns them as lists of tuples."""
    rnd = random.Random(seed)
    now = time.time()
    rows = {"sessions": [], "cbv": [], "auth": [], "cache": []}
    for i in range(n):
        t = now - rnd.randrange(0, 3 * 86400)
        rows["sessions"].append((
            "s%d-%d" % (seed, i), t, t + 1, "192.0.2.%d" % (i % 250), "",
            "h.example", rnd.choice(["pass", "fail-literal", "tempfail-dns",
                                     "log-fail", "off"]),
            rnd.randrange(2), rnd.randrange(3), rnd.randrange(4),
            rnd.randrange(3), rnd.randrange(100000),
            rnd.choice(["quit", "timeout", "error", "\"bad\nvalue\\"])))
        rows["cbv"].append((
            t, "s%d-%d" % (seed, i), "u%d@d%d.example" % (i, i % 7),
            "d%d.example" % (i % 7),
            rnd.choice(["probe", "cache", "dns", "dmp"]),
            rnd.choice(["pass", "fail", "tempfail"]),
            rnd.choice(["connect", "rcpt", "nxdomain", ""]),
            "mx.d%d.example" % (i % 7),
            rnd.choice(["250 2.1.5 Ok", "550 5.1.1 no\x1b[31m", ""]),
            0.25, rnd.randrange(2), rnd.randrange(2)))
        rows["auth"].append((
            t, "s%d-%d" % (seed, i), "192.0.2.1", "a.example", "a.example",
            rnd.choice(["pass", "fail", "softfail", None]), "mailfrom",
            "a.example",
            rnd.choice(["pass d=a.example s=x", "fail d=a.example s=y; "
                        "pass d=b.example s=z", None]),
            rnd.choice(["pass", "fail", None]), "reject",
            rnd.choice(["delivered", "junk", "refused"]),
            rnd.choice([0, 550, 451])))
    for i in range(n // 3):
        rows["cache"].append(("c%d-%d@x.example" % (seed, i), "pass", "rcpt",
                              "250 ok", "mx", 1, now, now + 3600))
    db = sqlite3.connect(path)
    db.executemany(SESSION, rows["sessions"])
    db.executemany(CBV, rows["cbv"])
    db.executemany(AUTH, rows["auth"])
    db.executemany(CACHE, rows["cache"])
    db.commit()
    db.close()
    return rows


def test_options_after_command_and_exit_codes(mx, strictmxctl_path):
    db = make_db(mx)
    fill(db, 1)
    ctl = strictmxctl_path
    p = run(ctl, "-h")
    assert p.returncode == 0
    assert re.search(r"^default config: /\S+/strictmx/strictmx\.conf$",
                     p.stdout, re.M), p.stdout
    for cmd in ("sessions", "stats", "auth", "cbv-log", "metrics", "cache",
                "cbv", "spf"):
        assert re.search(r"strictmxctl \[-f file[^]]*\] %s\b" % cmd,
                         p.stdout), (cmd, p.stdout)
    assert "[-f file] cbv ADDRESS" in p.stdout      # no -d offered
    # the global options after the command, as before it
    a = run(ctl, "-d", db, "stats", "--json")
    b = run(ctl, "stats", "--json", "-d", db)
    c = run(ctl, "stats", "--db=" + db, "--json")
    assert a.returncode == b.returncode == c.returncode == 0, b.stderr
    assert a.stdout == b.stdout == c.stdout
    # -f after the command is taken as the config (here a missing one)
    p = run(ctl, "sessions", "-f", "/nonexistent/x.conf")
    assert p.returncode == 1 and "/nonexistent/x.conf" in p.stderr, p
    # "--" ends the global options
    p = run(ctl, "-d", db, "cbv-log", "--", "-d")
    assert p.returncode == 64 and "unknown argument: -d" in p.stderr, p
    # usage errors: 64, never 2 (cbv and spf say tempfail with 2)
    for args in ([], ["bogus"], ["-x", "stats"], ["stats", "--bogus"],
                 ["-d", db, "cbv", "a@b.example"],
                 ["spf", "--db", db, "192.0.2.1", "a@b.example"],
                 ["cache", "list", "-d", db, "-d", db],
                 ["-d", db, "cbv-log", "--last", "0"],
                 ["-d", db, "cbv-log", "--since", "2026-02-30"],
                 ["-d", db, "metrics", "extra"], ["stats", "-d"]):
        p = run(ctl, *args)
        assert p.returncode == 64, (args, p)
        assert "usage:" in p.stderr, (args, p.stderr)
    # not a database: an error (1), not a usage error
    p = run(ctl, "stats", "-d", "/nonexistent/stats.db")
    assert p.returncode == 1, p


def cells(line, starts):
    return [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]


def test_cbv_log(mx, strictmxctl_path):
    db = make_db(mx)
    rows = fill(db, 2)
    p = run(strictmxctl_path, "cbv-log", "-d", db, "--last", "1000")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    titles = ["TIME", "ADDRESS", "DECIDED_BY", "OUTCOME", "STAGE", "MX",
              "ENFORCED", "REPLY"]
    assert lines[0].split() == titles
    starts = [lines[0].index(t) for t in titles]
    want = sorted(rows["cbv"])
    assert len(lines) == 1 + len(want)
    for line, r in zip(lines[1:], want):
        got = cells(line, starts)
        assert got[0] == time.strftime("%Y-%m-%d %H:%M:%S",
                                       time.localtime(int(r[0])))
        assert got[1:6] == [r[2], r[4], r[5], r[6] or "-", r[7]], (got, r)
        assert got[6] == ("yes" if r[11] else "no")
        # the reply is remote text: ESC is shown escaped, never raw
        assert got[7] == (r[8].replace("\x1b", "\\x1b") or "-"), (got, r)
        assert "\x1b" not in line
    p = run(strictmxctl_path, "cbv-log", "-d", db, "--last", "5")
    assert [ln.split()[2] for ln in p.stdout.splitlines()[1:]] == \
        [r[2] for r in want[-5:]]
    today = time.strftime("%Y-%m-%d")
    p = run(strictmxctl_path, "cbv-log", "-d", db, "--since", today,
            "--last", "1000")
    midnight = time.mktime(time.strptime(today, "%Y-%m-%d"))
    assert [ln.split()[2] for ln in p.stdout.splitlines()[1:]] == \
        [r[2] for r in want if r[0] >= midnight]
    p = run(strictmxctl_path, "cbv-log", "-d", db, "--until", "2001-01-01")
    assert p.returncode == 0 and p.stdout.splitlines() == [
        "  ".join(t for t in titles)], p.stdout


# The exposition format 0.0.4, as Prometheus parses it.
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(r"^(%s)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\n]|"
                    r"\\[\\\"n])*\",?)*)\})? (-?[0-9]+(?:\.[0-9]+)?)$" % NAME)
HELP = re.compile(r"^# HELP (%s) [^\n]*$" % NAME)
TYPE = re.compile(r"^# TYPE (%s) (counter|gauge)$" % NAME)


def parse_metrics(text):
    assert text.endswith("\n")
    types, samples = {}, {}
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP"):
            assert HELP.match(line), line
            continue
        t = TYPE.match(line)
        if t:
            assert t.group(1) not in types, line
            types[t.group(1)] = t.group(2)
            continue
        s = SAMPLE.match(line)
        assert s, "not exposition syntax: %r" % line
        assert s.group(1) in types, "no TYPE before %r" % line
        assert s.group(1).startswith("strictmx_")
        if types[s.group(1)] == "counter":
            assert s.group(1).endswith("_total"), line
        labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"',
                                         s.group(2) or "")))
        key = (s.group(1), labels)
        assert key not in samples, "duplicate sample %r" % line
        samples[key] = int(s.group(3))
    return types, samples


def expected(rows):
    from collections import Counter
    e = Counter()
    lab = (lambda v: "none" if not v else
           re.sub(r"[^A-Za-z0-9_.+-]", "_", v))
    for s in rows["sessions"]:
        e[("strictmx_sessions_total", (("ended", lab(s[12])),))] += 1
        e[("strictmx_recipients_total", (("result", "accepted"),))] += s[9]
        e[("strictmx_recipients_total", (("result", "refused"),))] += s[10]
        e[("strictmx_received_bytes_total", ())] += s[11]
        if s[6].startswith("fail") or s[6].startswith("tempfail"):
            cls = "4xx" if s[6].startswith("tempfail") else "5xx"
            e[("strictmx_refusals_total", (("class", cls),
                                           ("command", "helo")))] += 1
    for c in rows["cbv"]:
        e[("strictmx_cbv_total", (("decided_by", c[4]),
                                  ("outcome", c[5])))] += 1
    for a in rows["auth"]:
        e[("strictmx_messages_total", (("disposition", a[11]),))] += 1
        if a[5] is not None:
            e[("strictmx_spf_results_total", (("result", a[5]),))] += 1
        if a[9] is not None:
            e[("strictmx_dmarc_results_total", (("result", a[9]),))] += 1
        e[("strictmx_dkim_results_total",
           (("result", a[8].split()[0] if a[8] else "none"),))] += 1
        if a[11] == "refused":
            e[("strictmx_refusals_total", (("class", "%dxx" % (a[12] // 100)),
                                           ("command", "data")))] += 1
    e[("strictmx_cbv_cache_entries", ())] += len(rows["cache"])
    return dict(e)


def test_metrics(mx, tmp_path, strictmxctl_path):
    db = make_db(mx)
    rows = fill(db, 3)
    p = run(strictmxctl_path, "metrics", "-d", db)
    assert p.returncode == 0, p.stderr
    types, samples = parse_metrics(p.stdout)
    assert types["strictmx_cbv_cache_entries"] == "gauge"
    assert samples == expected(rows)
    # counters over the whole database: they never go down as rows come
    more = fill(db, 4, n=9)
    _, later = parse_metrics(run(strictmxctl_path, "metrics", "-d",
                                 db).stdout)
    both = {k: rows[k] + more[k] for k in rows}
    assert later == expected(both)
    assert all(later[k] >= v for k, v in samples.items())


def test_several_databases_merge(mx, tmp_path, strictmxctl_path):
    a, b = make_db(mx), make_db(mx, hostname="mx2.test.example")
    ra, rb = fill(a, 5), fill(b, 6, n=31)
    both = {k: ra[k] + rb[k] for k in ra}
    p = run(strictmxctl_path, "metrics", "--db", a, "--db", b)
    assert p.returncode == 0, p.stderr
    assert parse_metrics(p.stdout)[1] == expected(both)
    p = run(strictmxctl_path, "cbv-log", "--db", a, "--db", b, "--last",
            "1000")
    assert len(p.stdout.splitlines()) == 1 + len(both["cbv"])
    p = run(strictmxctl_path, "sessions", "--db", a, "--db", b, "--last",
            "1000")
    assert len(p.stdout.splitlines()) == 1 + len(both["sessions"])
    # the report keeps its layout: the same lines as for one file
    one = run(strictmxctl_path, "stats", "-d", a, "--since", "2000-01-01")
    two = run(strictmxctl_path, "stats", "-d", a, "-d", b, "--since",
              "2000-01-01")
    assert two.returncode == 0, two.stderr
    strip = (lambda t: [ln.split(":")[0] for ln in t.splitlines()])
    assert strip(one.stdout) == strip(two.stdout)
    cnt = (lambda t: int(re.search(r"^cbv calls +: +(\d+)$", t,
                                   re.M).group(1)))
    assert cnt(two.stdout) == len(both["cbv"]) == cnt(one.stdout) + len(
        rb["cbv"])
    p = run(strictmxctl_path, "auth", "-d", a, "-d", b, "--since",
            "2000-01-01", "--json")
    assert p.returncode == 0, p.stderr
    import json
    assert sum(r["messages"] for r in json.loads(p.stdout)) == len(
        both["auth"])
    # the merge is read-only: cache flush takes one database
    p = run(strictmxctl_path, "cache", "flush", "-d", a, "-d", b)
    assert p.returncode == 64
    # files of different schema versions are not merged
    old = tmp_path / "old.db"
    con = sqlite3.connect(str(old))
    con.execute("PRAGMA user_version = 1")
    con.execute("CREATE TABLE sessions (id TEXT)")
    con.commit()
    con.close()
    p = run(strictmxctl_path, "stats", "-d", a, "-d", str(old))
    assert p.returncode == 1 and "cannot merge" in p.stderr, p


if __name__ == "__main__":
    pytest.main([__file__])
