# test_harness.py - self-tests of the e2e harness itself (no strictmxd):
# the dnsmasq zone, the scripted remote MX, the raw client, tiny_fs.
# When one of these fails, the daemon tests' verdicts mean nothing.

import os
import socket
import time

import pytest

import e2elib
from e2elib import Client, HarnessError


# -- DNS zone ---------------------------------------------------------------

ZONE = [
    ("A", "mx1.sender.example", "127.0.0.2"),
    ("A", "mx1.sender.example", "127.0.0.3"),
    ("AAAA", "v6.sender.example", "::2"),
    ("A", "noptr.sender.example", "127.0.0.9"),
    ("PTR", "127.0.0.2", "mx1.sender.example"),
    ("PTR", "::2", "v6.sender.example"),
    ("MX", "sender.example", 10, "mx1.sender.example"),
    ("MX", "sender.example", 20, "mx2.sender.example"),
    ("MX", "nullmx.example", 0, "."),
    ("TXT", "sender.example", "v=spf1 -all"),
]


def test_dns_zone_answers(dns):
    z = dns(ZONE, timeout=["slow.example"], servfail=["broken.example"])
    rc, ans = z.query("mx1.sender.example", "A")
    assert rc == "NOERROR"
    assert sorted(v for _, _, v in ans) == ["127.0.0.2", "127.0.0.3"]
    assert z.query("v6.sender.example", "AAAA") == \
        ("NOERROR", [("v6.sender.example", "AAAA", "::2")])
    # a name with only an A record: NODATA for AAAA, not NXDOMAIN
    assert z.query("mx1.sender.example", "AAAA") == ("NOERROR", [])
    assert z.query("v6.sender.example", "A") == ("NOERROR", [])
    assert z.query("2.0.0.127.in-addr.arpa", "PTR") == \
        ("NOERROR", [("2.0.0.127.in-addr.arpa", "PTR", "mx1.sender.example")])
    rc, ans = z.query(e2elib.reverse_name("::2"), "PTR")
    assert (rc, [v for _, _, v in ans]) == ("NOERROR", ["v6.sender.example"])
    # an A record does not invent a PTR record (tests of PTR need that)
    assert z.query("9.0.0.127.in-addr.arpa", "PTR")[0] == "NXDOMAIN"
    assert z.query("3.0.0.127.in-addr.arpa", "PTR")[0] == "NXDOMAIN"
    rc, ans = z.query("sender.example", "MX")
    assert sorted(v for _, _, v in ans) == [(10, "mx1.sender.example"),
                                            (20, "mx2.sender.example")]
    assert z.query("nullmx.example", "MX") == \
        ("NOERROR", [("nullmx.example", "MX", (0, ""))])
    assert z.query("sender.example", "TXT")[1][0][2] == "v=spf1 -all"
    assert z.query("sender.example", "A") == ("NOERROR", [])
    assert z.query("nosuch.example", "MX") == ("NXDOMAIN", [])
    assert z.query("x.nosuch.example", "A") == ("NXDOMAIN", [])
    assert z.query("broken.example", "A")[0] == "SERVFAIL"
    t0 = time.monotonic()
    with pytest.raises(socket.timeout):
        z.query("slow.example", "MX", timeout=0.5)
    assert time.monotonic() - t0 < 2


def test_dns_sets_resolver_for_mx(dns, _e2e_state):
    dns([("A", "a.example", "127.0.0.5")])
    assert _e2e_state["resolver"] == "127.0.0.1"


# -- scripted remote MX and the raw client ------------------------------------

def test_remote_mx_default_dialogue(remote_mx):
    r = remote_mx("127.0.0.2")
    c = Client("127.0.0.2", 25, src="127.0.0.7")
    c.greet(220, "remote.example ESMTP scripted")
    c.cmd("NOOP", 250, "2.0.0 Ok")
    rep = c.cmd("EHLO mx.test.example", 250)
    assert rep.lines == ["remote.example", "PIPELINING", "8BITMIME"]
    c.cmd("MAIL FROM:<>", 250)
    c.cmd("RCPT TO:<someone@sender.example>", 250, "2.1.5 Ok")
    c.cmd("DATA", 354)
    c.send(b"Subject: x\r\n\r\n..dot\r\nbody\r\n.\r\n")
    c.expect(250)
    c.cmd("QUIT", 221)
    c.expect_close()
    s = r.wait_sessions(1)[0]
    r.wait_closed()
    assert s.peer[0] == "127.0.0.7"
    assert s.commands == ["NOOP", "EHLO mx.test.example", "MAIL FROM:<>",
                          "RCPT TO:<someone@sender.example>", "DATA", "QUIT"]
    assert s.messages == [b"Subject: x\r\n\r\n.dot\r\nbody\r\n"]
    assert s.ended_by == "server"


def test_remote_mx_script_per_address_and_multiline(remote_mx):
    r = remote_mx("127.0.0.3", script={
        "ehlo": ["250-{host}", "250 RFC3821"],
        "rcpt": {"good@sender.example": "250 2.1.5 Ok",
                 "*": "550 5.1.1 No such user"},
        "mail": lambda line: "553 5.1.8 no bounces" if "<>" in line
        else "250 2.1.0 Ok",
    }, host="mx.sender.example")
    c = Client("127.0.0.3", 25)
    c.greet()
    assert c.cmd("EHLO me.example", 250).lines == ["mx.sender.example",
                                                   "RFC3821"]
    c.cmd("MAIL FROM:<>", 553, "5.1.8 no bounces")
    c.cmd("MAIL FROM:<a@b.example>", 250)
    c.cmd("RCPT TO:<Good@Sender.Example>", 250)
    c.cmd("RCPT TO:<bad@sender.example>", 550, "5.1.1 No such user")
    c.cmd("FOO", 500)
    c.close()
    r.wait_closed()
    assert r.sessions[0].stages == ["ehlo", "mail", "mail", "rcpt", "rcpt",
                                    "unknown"]


def test_remote_mx_drop_and_garbage(remote_mx):
    r = remote_mx("127.0.0.4", script={"noop": "drop", "ehlo": "garbage"})
    c = Client("127.0.0.4", 25)
    c.greet()
    c.line("NOOP")
    c.expect_close()
    c2 = Client("127.0.0.4", 25)
    c2.greet()
    c2.line("EHLO x.example")
    with pytest.raises(HarnessError, match="malformed reply"):
        c2.read_reply()
    c2.close()
    r.wait_closed()
    assert r.sessions[0].ended_by == "server"
    assert r.sessions[0].commands == ["NOOP"]


def test_remote_mx_hang_records_and_delay(remote_mx):
    r = remote_mx("127.0.0.5", script={"greeting": "hang"})
    c = Client("127.0.0.5", 25, timeout=0.3)
    with pytest.raises(HarnessError, match="timeout"):
        c.read_reply()
    c.line("NOOP")
    e2elib.wait_until(lambda: r.commands == ["NOOP"], 2, what="NOOP seen")
    c.close()
    r.wait_closed()
    assert r.sessions[0].ended_by == "client"
    r2 = remote_mx("127.0.0.6",
                   script={"mail": ("delay", 0.3, "451 4.3.0 later")})
    c = Client("127.0.0.6", 25)
    c.greet()
    t0 = time.monotonic()
    c.cmd("MAIL FROM:<>", 451, "4.3.0 later")
    assert time.monotonic() - t0 >= 0.25
    c.close()
    r2.wait_closed()


def test_remote_mx_stop_ends_hanging_sessions(remote_mx):
    r = remote_mx("127.0.0.8", script={"rcpt": "hang"})
    c = Client("127.0.0.8", 25)
    c.greet()
    c.cmd("MAIL FROM:<>", 250)
    c.line("RCPT TO:<x@y.example>")
    e2elib.wait_until(lambda: len(r.commands) == 2, 2, what="RCPT seen")
    t0 = time.monotonic()
    r.stop()
    assert time.monotonic() - t0 < 2
    assert c.is_closed(2)


def test_client_rejects_bad_replies(remote_mx):
    r = remote_mx("127.0.0.9", script={
        "noop": lambda line: "250-a",          # continuation, then junk
        "rset": "250 ok",
    })
    c = Client("127.0.0.9", 25, timeout=0.5)
    c.greet()
    c.line("NOOP")
    with pytest.raises(HarnessError):   # never completes: timeout
        c.read_reply()
    c.close()
    r.stop()


def test_free_port_and_listening_sockets():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    import ipaddress
    assert (ipaddress.ip_address("127.0.0.1"), port) in \
        e2elib.listening_sockets()
    s.close()
    s6 = socket.socket(socket.AF_INET6)
    s6.bind(("::1", 0))
    s6.listen(1)
    assert (ipaddress.ip_address("::1"), s6.getsockname()[1]) in \
        e2elib.listening_sockets()
    s6.close()
    assert e2elib.parse_listen("127.0.0.1:25 [::1]:2525") == [
        (ipaddress.ip_address("127.0.0.1"), 25),
        (ipaddress.ip_address("::1"), 2525)]


def test_tiny_fs_fills_up(tiny_fs):
    p = tiny_fs("64k")
    with pytest.raises(OSError) as e:
        with open(os.path.join(p, "big"), "wb") as f:
            f.write(b"x" * 200000)
            f.flush()
            os.fsync(f.fileno())
    assert e.value.errno == 28      # ENOSPC


def test_sqlite_rows(tmp_path, sqlite):
    import sqlite3
    db = str(tmp_path / "t.db")
    con = sqlite3.connect(db)
    con.execute("create table t (a, b)")
    con.execute("insert into t values (1, 'x')")
    con.commit()
    con.close()
    assert sqlite(db, "select * from t") == [{"a": 1, "b": "x"}]
