# test_sessions.py - end-to-end tests of issue 3's session records: the
# sessions table of stats.db (DESIGN 6), "strictmxctl sessions", no row
# lost at SIGTERM, a stats_db that cannot be used (mail still flows), and
# the schema (user_version 1, WAL). Runs in run.sh's private namespace.

import os
import re
import signal
import sqlite3
import subprocess
import time

import pytest

import e2elib
from e2elib import Client, wait_until
from helolib import (H, HANG, ZONE, assert_rows, hello, read_rows,
                     session_rows)

SHUTDOWN = "4.3.2 %s Service shutting down" % H
ENFORCE = dict(helo_policy="enforce", helo_match="a")


def ctl(path, m, *args, db=None):
    argv = [path, "-f", m.conf_path] + (["-d", db] if db else []) + \
        list(args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=10)


def ctl_rows(out):
    """The rows of 'strictmxctl sessions' as lists of fields: START is
    two fields (date, time), every other column one ('-' when empty)."""
    lines = out.splitlines()
    assert lines and lines[0].split() == [
        "START", "ID", "CLIENT", "PTR", "HELO", "VERDICT", "TLS", "MSGS",
        "RCPT", "BYTES", "ENDED"], out
    rows = [ln.split() for ln in lines[1:]]
    for r in rows:
        assert len(r) == 12, "bad row %r in\n%s" % (r, out)
        assert re.match(r"^\d{4}-\d\d-\d\d$", r[0]) and \
            re.match(r"^\d\d:\d\d:\d\d$", r[1]), r
    return rows


def deliver(m, src, helo, rcpt="alice@test.example", body=b"x\r\n"):
    c = m.connect(src=src)
    c.cmd("EHLO " + helo, 250)
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    c.cmd("RCPT TO:<%s>" % rcpt, 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: t\r\n\r\n" + body + b".\r\n")
    c.expect(250)
    c.cmd("QUIT", 221)
    c.expect_close()


def test_ctl_sessions_lists_what_happened(dns, mx, strictmxctl_path):
    dns(ZONE)
    m = mx(**ENFORCE)
    deliver(m, "127.0.0.7", "fcr.client.example", body=b"0123456789\r\n")
    hello(m, "127.0.0.5", "elsewhere.client.example", 550)
    c = m.connect(src="127.0.0.6")
    c.cmd("HELO multi.client.example", 250)
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    c.cmd("RCPT TO:<alice@test.example>", 250)
    c.cmd("RCPT TO:<nobody@test.example>", 550)
    c.cmd("RCPT TO:<x@elsewhere.example>", 554)
    c.close()                            # no QUIT
    # read while the daemon runs (WAL: the reader never blocks it); the
    # rows come with the next flush, within about a second
    t0 = time.monotonic()

    def listed():
        r = ctl(strictmxctl_path, m, "sessions", "--last", "10")
        assert r.returncode == 0, r.stderr
        rows = ctl_rows(r.stdout)
        return rows if len(rows) == 3 else None
    rows = wait_until(listed, 5.0, what="3 sessions listed")
    assert time.monotonic() - t0 < 3.0
    db = read_rows(m)
    assert [r[2] for r in rows] == [d["id"] for d in db]
    assert [r[3:] for r in rows] == [
        ["127.0.0.7", "fcr.client.example", "fcr.client.example", "pass",
         "no", "1", "1/0", str(db[0]["bytes"]), "quit"],
        ["127.0.0.5", "-", "elsewhere.client.example", "fail-match", "no",
         "0", "0/0", "0", "quit"],
        ["127.0.0.6", "-", "multi.client.example", "pass", "no", "0", "1/2",
         "0", "disconnect"],
    ]
    assert db[0]["bytes"] >= len(b"Subject: t\r\n\r\n0123456789\r\n")
    # --last N: the N newest, oldest first; the default shows them all
    r = ctl(strictmxctl_path, m, "sessions", "--last", "2")
    assert r.returncode == 0, r.stderr
    assert [x[2] for x in ctl_rows(r.stdout)] == [d["id"] for d in db[1:]]
    r = ctl(strictmxctl_path, m, "sessions", "--last", "1")
    assert [x[2] for x in ctl_rows(r.stdout)] == [db[2]["id"]]
    r = ctl(strictmxctl_path, m, "sessions")
    assert [x[2] for x in ctl_rows(r.stdout)] == [d["id"] for d in db]
    # -d names the database directly
    r = ctl(strictmxctl_path, m, "sessions", db=m.stats_db)
    assert [x[2] for x in ctl_rows(r.stdout)] == [d["id"] for d in db]
    for bad in (["--last", "0"], ["--last", "x"], ["--last"], ["--bogus"]):
        r = ctl(strictmxctl_path, m, "sessions", *bad)
        assert r.returncode == 64, (bad, r)
        assert "usage" in r.stderr, (bad, r.stderr)
    assert_rows(session_rows(m), [
        dict(client_ip="127.0.0.7", ptr="fcr.client.example",
             helo="fcr.client.example", helo_verdict="pass", tls=0,
             messages=1, rcpt_accepted=1, rcpt_refused=0, ended="quit"),
        dict(client_ip="127.0.0.5", ptr="", helo="elsewhere.client.example",
             helo_verdict="fail-match", messages=0, rcpt_accepted=0,
             rcpt_refused=0, bytes=0, ended="quit"),
        dict(client_ip="127.0.0.6", ptr="", helo="multi.client.example",
             helo_verdict="pass", messages=0, rcpt_accepted=1,
             rcpt_refused=2, bytes=0, ended="disconnect"),
    ])


def test_ctl_sessions_escapes_untrusted_text(mx, strictmxctl_path):
    m = mx()
    c = m.connect(src="127.0.0.5")
    c.cmd(b"EHLO evil\x1b[31m.example", 250)
    c.cmd("QUIT", 221)
    c.expect_close()
    rows = session_rows(m)
    assert [r["helo"] for r in rows] == ["evil\x1b[31m.example"]
    r = ctl(strictmxctl_path, m, "sessions")
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout
    assert len(ctl_rows(r.stdout)) == 1


def test_sigterm_keeps_rows_of_open_sessions(dns, mx):
    z = dns(ZONE, timeout=[HANG, "12.0.0.127.in-addr.arpa"])
    m = mx(**ENFORCE)
    # ended just before SIGTERM: still queued, not yet flushed
    hello(m, "127.0.0.5", "good.client.example", 250)
    idle = m.connect(src="127.0.0.6")
    idle.cmd("EHLO multi.client.example", 250)
    tx = m.connect(src="127.0.0.5")
    tx.cmd("EHLO good.client.example", 250)
    tx.cmd("MAIL FROM:<s@sender.example>", 250)
    tx.cmd("RCPT TO:<alice@test.example>", 250)
    tx.cmd("RCPT TO:<nobody@test.example>", 550)
    # parked on a HELO lookup that never ends
    parked = m.connect(src="127.0.0.5")
    parked.line("EHLO stuck." + HANG)
    # waiting for its greeting: the PTR lookup never ends
    early = Client("127.0.0.1", m.port, src="127.0.0.12")
    # both lookups are in flight (dnsmasq has forwarded them)
    wait_until(lambda: "stuck." + HANG in z.log() and
               "12.0.0.127.in-addr.arpa" in z.log(), 2,
               what="the hanging queries at dnsmasq")
    assert not parked.is_closed(0)
    assert early.is_closed(0) is False and early.buf == b""
    t0 = time.monotonic()
    m.signal(signal.SIGTERM)
    for c in (idle, tx, parked, early):
        c.expect(421, SHUTDOWN)
        c.expect_close()
    assert m.wait(10) == 0, m.log_tail()
    assert time.monotonic() - t0 < 3.0
    assert_rows(read_rows(m), [
        dict(client_ip="127.0.0.5", helo="good.client.example",
             helo_verdict="pass", ended="quit"),
        dict(client_ip="127.0.0.6", helo="multi.client.example",
             helo_verdict="pass", ended="shutdown"),
        dict(client_ip="127.0.0.5", helo="good.client.example",
             helo_verdict="pass", rcpt_accepted=1, rcpt_refused=1,
             messages=0, ended="shutdown"),
        dict(client_ip="127.0.0.5", helo="stuck." + HANG,
             helo_verdict="none", ended="shutdown"),
        dict(client_ip="127.0.0.12", helo="", helo_verdict="none",
             ended="shutdown"),
    ])


def test_sigterm_during_data_keeps_row(mx):
    m = mx()
    idle = m.connect(src="127.0.0.6")
    c = m.connect(src="127.0.0.5")
    c.cmd("EHLO any.client.example", 250)
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    c.cmd("RCPT TO:<alice@test.example>", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: in flight\r\n\r\nfirst part\r\n")
    m.signal(signal.SIGTERM)
    idle.expect(421, SHUTDOWN)      # the daemon is shutting down now
    idle.expect_close()
    c.send(b"second part\r\n.\r\n")
    c.expect(250)
    c.expect(421, SHUTDOWN)
    c.expect_close()
    assert m.wait(10) == 0, m.log_tail()
    assert len(m.maildir("alice").new) == 1
    assert_rows(read_rows(m), [dict(
        client_ip="127.0.0.6", helo="", helo_verdict="none",
        ended="shutdown"), dict(
        client_ip="127.0.0.5", helo="any.client.example",
        helo_verdict="off", messages=1, rcpt_accepted=1, ended="shutdown")])


def _no_dir(tmp, tiny_fs):
    return (str(tmp / "no" / "such" / "dir" / "stats.db"),
            "No such file or directory")


def _file_parent(tmp, tiny_fs):
    (tmp / "plainfile").write_text("x")
    return str(tmp / "plainfile" / "stats.db"), "not a directory"


def _read_only_fs(tmp, tiny_fs):
    p = tiny_fs("64k", name="rofs")
    r = subprocess.run(["mount", "-o", "remount,ro", str(p)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot remount read-only: %s" % r.stderr)
    return str(p / "stats.db"), "not writable: Read-only file system"


def _not_a_database(tmp, tiny_fs):
    path = tmp / "garbage.db"
    path.write_bytes(b"this is not an SQLite database\n" * 200)
    return str(path), "file is not a database"


def _directory(tmp, tiny_fs):
    (tmp / "adir.db").mkdir()
    return str(tmp / "adir.db"), "unable to open database file"


@pytest.mark.parametrize("make", [_no_dir, _not_a_database, _directory])
def test_unusable_stats_db_mail_flows(tmp_path, tiny_fs, mx, make):
    path, why = make(tmp_path, tiny_fs)
    m = mx(stats_db=path)
    line = m.wait_log(r"stats: .*stats disabled", timeout=3).group(0)
    assert why + "; stats disabled" in line, line
    deliver(m, "127.0.0.5", "client.example")
    deliver(m, "127.0.0.6", "client2.example", rcpt="bob@test.example")
    assert len(m.maildir("alice").new) == 1
    assert len(m.maildir("bob").new) == 1
    m.stop()
    if make is _no_dir:
        assert not os.path.exists(path)


@pytest.mark.parametrize("make", [_file_parent, _read_only_fs])
def test_unwritable_stats_dir_refuses_start(tmp_path, tiny_fs, mx, make):
    """A stats_db directory the daemon cannot write is a configuration
    error found at start (and by -n), named with its path: no daemon that
    silently records nothing."""
    path, _ = make(tmp_path, tiny_fs)
    m = mx(stats_db=path, start=False)
    p = m.check()
    assert p.returncode == 1, p.stdout + p.stderr
    assert os.path.dirname(path) in p.stdout + p.stderr
    p = subprocess.run(m.argv(), capture_output=True, text=True, timeout=20,
                       env=m.env)
    assert p.returncode == 1
    assert "stats_db directory %s" % os.path.dirname(path) in p.stderr, \
        p.stderr


def test_stats_disk_full_then_recovers(tiny_fs, mx):
    """The stats file system fills up: flushes fail (logged once), mail
    flows, the rows stay queued; once there is room they are written."""
    fs = tiny_fs("512k", name="statsfs")
    m = mx(stats_db=str(fs / "stats.db"))
    hello(m, "127.0.0.5", "before.client.example", 250)
    wait_until(lambda: len(read_rows(m)) == 1, 3, what="first row")
    filler = fs / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == 28, e
    for i in range(30):
        hello(m, "127.0.0.6", "full%d.client.example" % i, 250)
    deliver(m, "127.0.0.5", "client.example")
    m.wait_log(r"stats: flush of \d+ rows failed, will retry", timeout=5)
    assert len(m.maildir("alice").new) == 1
    os.unlink(filler)
    m.wait_log(r"stats: writing again, \d+ rows written", timeout=5)
    rows = session_rows(m)
    assert [r["helo"] for r in rows] == ["before.client.example"] + \
        ["full%d.client.example" % i for i in range(30)] + ["client.example"]
    assert len(re.findall(r"flush of \d+ rows failed", m.log())) == 1


def test_stats_locked_by_reader_then_written(mx):
    """Another process holds the write lock for longer than a flush waits:
    the rows stay queued and are written later, none lost or doubled."""
    m = mx()
    hello(m, "127.0.0.5", "first.client.example", 250)
    wait_until(lambda: len(read_rows(m)) == 1, 3, what="first row")
    con = sqlite3.connect(m.stats_db, timeout=0, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        for i in range(3):
            hello(m, "127.0.0.6", "locked%d.client.example" % i, 250)
        m.wait_log(r"stats: flush of \d+ rows failed, will retry",
                   timeout=5)
        # the daemon still answers at once while its writes fail
        t0 = time.monotonic()
        hello(m, "127.0.0.7", "during.client.example", 250)
        assert time.monotonic() - t0 < 1.0
    finally:
        con.execute("ROLLBACK")
        con.close()
    m.wait_log(r"stats: writing again, \d+ rows written", timeout=5)
    assert [r["helo"] for r in session_rows(m)] == [
        "first.client.example", "locked0.client.example",
        "locked1.client.example", "locked2.client.example",
        "during.client.example"]


def test_schema_version_and_wal(mx):
    m = mx()
    deliver(m, "127.0.0.5", "client.example")
    # while running: WAL mode (the -wal file is there)
    wait_until(lambda: os.path.exists(m.stats_db + "-wal"), 3,
               what="the -wal file")
    m.stop()
    con = sqlite3.connect("file:%s?mode=ro" % m.stats_db, uri=True)
    try:
        # schema 2: the auth table (issue 8)
        assert con.execute("PRAGMA user_version").fetchone()[0] == 2
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        cols = [r[1] for r in con.execute("PRAGMA table_info(sessions)")]
        assert cols == ["id", "start", "end", "client_ip", "ptr", "helo",
                        "helo_verdict", "tls", "messages", "rcpt_accepted",
                        "rcpt_refused", "bytes", "ended"]
    finally:
        con.close()
    rows = read_rows(m)
    assert len(rows) == 1
    r = rows[0]
    assert (r["client_ip"], r["helo"], r["helo_verdict"], r["tls"],
            r["messages"], r["rcpt_accepted"], r["rcpt_refused"],
            r["ended"]) == ("127.0.0.5", "client.example", "off", 0, 1, 1, 0,
                            "quit")
    assert abs(r["start"] - time.time()) < 60
    assert 0 <= r["end"] - r["start"] < 10
    assert r["bytes"] > 0
    # a restart keeps the rows and the version (no second migration)
    m2 = mx(stats_db=m.stats_db)
    hello(m2, "127.0.0.6", "again.client.example", 250)
    rows = session_rows(m2)
    assert [x["helo"] for x in rows] == ["client.example",
                                         "again.client.example"]
    assert e2elib.sqlite_rows(m.stats_db, "PRAGMA user_version") == \
        [{"user_version": 2}]


def test_newer_schema_is_refused_mail_flows(tmp_path, mx):
    path = str(tmp_path / "future.db")
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version = 99")
    con.commit()
    con.close()
    m = mx(stats_db=path)
    m.wait_log(r"schema version 99 is newer", timeout=3)
    deliver(m, "127.0.0.5", "client.example")
    assert len(m.maildir("alice").new) == 1
    m.stop()
    assert e2elib.sqlite_rows(path, "PRAGMA user_version") == \
        [{"user_version": 99}]
