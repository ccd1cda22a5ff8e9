# test_core.py - end-to-end tests of issue 2: the core receiving MX.
# The real strictmxd, driven by raw sockets, smtplib and swaks, in a private
# network namespace (run.sh). Every reply is checked by code and, where
# the text matters, in full (see strictmxd(8) and the reply texts in smtpd/); every delivery by the
# exact bytes and name of the maildir file. The mx fixture's teardown also
# checks, after each test, exit status 0, no sanitizer report, and that no
# maildir's tmp/ holds a file.
#
# Policies (HELO, sender, CBV) are off here: they are later issues.

import hashlib
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

import e2elib
from e2elib import Client, ConnectionClosed, wait_until

H = e2elib.HOSTNAME
GREETING = "%s ESMTP-RFC3821 strictmx ready" % H
EHLO_LINES = [H, "PIPELINING", "SIZE 52428800", "8BITMIME",
              "ENHANCEDSTATUSCODES", "SMTPUTF8", "RFC3821"]
SHUTDOWN = "4.3.2 %s Service shutting down" % H

DATE = (r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3]?\d "
        r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
        r"[0-2]\d:[0-5]\d:[0-6]\d [+-]\d{4}")
FNAME = re.compile(r"^\d+\.M\d+P(\d+)Q\d+\.mx\.test\.example,S=(\d+)$")
QUEUED = re.compile(r"^2\.0\.0 Ok: queued as (\S+)$")


# -- helpers ------------------------------------------------------------------

def wire(text):
    """Message text with LF ends -> what goes on the wire: CRLF ends,
    dot-stuffed (RFC 5321 4.5.2), without the terminating dot."""
    if isinstance(text, str):
        text = text.encode("utf-8")
    lines = text.split(b"\n")
    assert lines[-1] == b"", "message text must end with LF"
    return b"".join((b"." + ln if ln.startswith(b".") else ln) + b"\r\n"
                    for ln in lines[:-1])


def transaction(c, sender, rcpts, data=None, params=""):
    """MAIL, RCPTs (each must get 250), DATA; data (wire bytes, without the
    dot) is sent with the final dot. Returns the queue id."""
    c.cmd("MAIL FROM:<%s>%s" % (sender, params), 250, "2.1.0 Ok")
    for r in rcpts:
        c.cmd("RCPT TO:<%s>" % r, 250, "2.1.5 Ok")
    c.cmd("DATA", 354, "End data with <CR><LF>.<CR><LF>")
    c.send(data + b".\r\n")
    rep = c.expect(250, QUEUED)
    return QUEUED.match(rep.text).group(1)


def send_message(m, sender, rcpts, text, helo="client.example",
                 src="127.0.0.1", params="", verb="EHLO"):
    """One whole session on a raw client; returns the queue id."""
    with m.connect(src=src) as c:
        c.cmd("%s %s" % (verb, helo), 250)
        qid = transaction(c, sender, rcpts, wire(text), params)
        c.cmd("QUIT", 221, "2.0.0 Bye")
        c.expect_close()
    return qid


# Our Authentication-Results field below the Received field (its exact
# bytes are test_authres.py's concern): iprev, then spf, folded lines.
AUTHRES = (rb"Authentication-Results: " + re.escape(H).encode()
           + rb";\n\tiprev=(?:pass|fail|temperror)[^\n]*;\n"
           + rb"\tspf=[a-z]+[^\n]*\n(?:\t[^\n]*\n)*")


def check_file(m, name, data, *, sender, rcpts, body, qid=None,
               helo="client.example", ip="127.0.0.1", ptr="unknown",
               proto="ESMTP", size=None):
    """The exact bytes of a delivered file (DESIGN 4) and its name."""
    fm = FNAME.match(name)
    assert fm, "maildir file name %r does not match %s" % (name,
                                                           FNAME.pattern)
    assert int(fm.group(1)) == m.pid, "P<pid> in %r is not the daemon's " \
        "pid %d" % (name, m.pid)
    size = len(data) if size is None else size
    assert int(fm.group(2)) == size, "S=%s in %r but the file has %d " \
        "bytes" % (fm.group(2), name, size)
    if isinstance(body, str):
        body = body.encode("utf-8")
    idrx = re.escape(qid) if qid else r"\S+"
    forc = "\n\tfor <%s>" % rcpts[0] if len(rcpts) == 1 else ""
    rx = re.compile(
        re.escape("Return-Path: <%s>\nReceived: from %s (%s [%s])\n"
                  "\tby %s (strictmx) with %s id " % (sender, helo, ptr, ip,
                                                      H, proto)).encode()
        + idrx.encode() + re.escape(forc).encode() + b"; "
        + DATE.encode() + b"\n" + AUTHRES + re.escape(body) + b"\\Z")
    assert rx.match(data), "delivered file differs from what is expected:\n" \
        "got:  %r\nwant: %r" % (data[:600], rx.pattern[:600])
    if qid:
        assert name.startswith(qid + "."), \
            "queue id %r is not the id of file %r" % (qid, name)


def only_message(m, maildir):
    """Assert exactly one message in maildir and nothing anywhere else."""
    msgs = m.all_messages()
    assert [(rel) for rel, _, _ in msgs] == [maildir], \
        "expected one message in %s, found %s" % (
            maildir, [(rel, n) for rel, n, _ in msgs])
    return msgs[0][1], msgs[0][2]


def session(m, src="127.0.0.1", helo="client.example"):
    c = m.connect(src=src)
    c.cmd("EHLO " + helo, 250)
    return c


def replies_until_close(c, limit=20):
    out = []
    for _ in range(limit):
        try:
            out.append(c.read_reply())
        except ConnectionClosed:
            return out
    raise AssertionError("no close after %d replies\n%s" % (limit, c.dump()))


# -- greeting, EHLO, HELO -----------------------------------------------------

def test_greeting_and_ehlo_exact(mx):
    m = mx()
    c = m.connect(greeting=False)
    c.greet(220, GREETING)
    r = c.cmd("EHLO client.example", 250)
    assert r.lines == EHLO_LINES, r.full
    c.cmd("QUIT", 221, "2.0.0 Bye")
    c.expect_close()


def test_greeting_without_rfc3821(mx):
    m = mx(advertise_rfc3821="no", max_message_size="64K")
    c = m.connect(greeting=False)
    c.greet(220, "%s ESMTP strictmx ready" % H)
    r = c.cmd("EHLO client.example", 250)
    assert r.lines == [H, "PIPELINING", "SIZE 65536", "8BITMIME",
                       "ENHANCEDSTATUSCODES", "SMTPUTF8"], r.full


def test_rfc3821_keyword(mx):
    m = mx(rfc3821_keyword="XRFC3821")
    c = m.connect(greeting=False)
    c.greet(220)
    r = c.cmd("EHLO client.example", 250)
    assert r.lines == EHLO_LINES[:-1] + ["XRFC3821"], r.full


def test_helo_and_ehlo_syntax(mx):
    m = mx()
    c = m.connect()
    c.cmd("MAIL FROM:<a@sender.example>", 503,
          "5.5.1 Error: send HELO/EHLO first")
    c.cmd("HELO", 501, "5.5.4 Syntax: HELO hostname")
    c.cmd("EHLO", 501, "5.5.4 Syntax: EHLO hostname")
    c.cmd("HELO client.example", 250, H)
    c.cmd("MAIL FROM:<a@sender.example>", 250, "2.1.0 Ok")
    # a second EHLO resets the transaction (RFC 5321 4.1.4)
    assert c.cmd("EHLO client.example", 250).lines == EHLO_LINES
    c.cmd("RCPT TO:<alice@test.example>", 503,
          "5.5.1 Error: need MAIL command")
    c.cmd("MAIL FROM:<a@sender.example>", 250)
    c.cmd("QUIT", 221)
    c.expect_close()


def test_verbs_case_insensitive(mx):
    m = mx()
    c = m.connect()
    c.cmd("ehlo client.example", 250)
    c.cmd("mail from:<a@sender.example>", 250)
    c.cmd("Rcpt To:<alice@test.example>", 250)
    c.cmd("data", 354)
    c.send(b"x\r\n.\r\n")
    c.expect(250, QUEUED)
    c.cmd("quit", 221)


# -- delivery: exact bytes ----------------------------------------------------

BODY = ("From: Sender <sender@sender.example>\nTo: alice@test.example\n"
        "Subject: hello\n\nFirst line.\n.leading dot\n\nLast line.\n")


def test_smtplib_delivery_exact_bytes(mx):
    m = mx()
    s = m.smtplib(helo="client.example")
    code, _ = s.ehlo()
    assert code == 250
    assert s.has_extn("pipelining") and s.has_extn("8bitmime")
    assert s.esmtp_features["size"] == "52428800"
    # smtplib writes the parameter in lower case: size=NNN
    assert s.mail("sender@sender.example", ["size=%d" % len(BODY)]) == \
        (250, b"2.1.0 Ok")
    assert s.rcpt("alice@test.example") == (250, b"2.1.5 Ok")
    # smtplib turns LF into CRLF (and stuffs dots) only in a str message
    code, text = s.data(BODY)
    assert code == 250, text
    qid = QUEUED.match(text.decode()).group(1)
    assert s.quit()[0] == 221
    name, data = only_message(m, "alice")
    check_file(m, name, data, sender="sender@sender.example", qid=qid,
               rcpts=["alice@test.example"], body=BODY)
    md = m.maildir("alice")
    for sub in ("new", "cur", "tmp"):
        st = os.stat(os.path.join(md.path, sub))
        assert st.st_mode & 0o777 == 0o700, "%s/%s mode %o" % (
            md.path, sub, st.st_mode & 0o777)


def test_raw_delivery_queue_id(mx):
    m = mx()
    qid = send_message(m, "sender@sender.example", ["alice@test.example"],
                       BODY, src="127.0.0.7")
    name, data = only_message(m, "alice")
    check_file(m, name, data, sender="sender@sender.example",
               rcpts=["alice@test.example"], body=BODY, qid=qid,
               ip="127.0.0.7")


def test_helo_gives_protocol_smtp(mx):
    m = mx()
    qid = send_message(m, "s@sender.example", ["bob@test.example"],
                       "Subject: x\n\nbody\n", verb="HELO",
                       helo="old.client.example")
    name, data = only_message(m, "bob")
    check_file(m, name, data, sender="s@sender.example", qid=qid,
               rcpts=["bob@test.example"], body="Subject: x\n\nbody\n",
               helo="old.client.example", proto="SMTP")


def test_swaks_delivery(mx, tmp_path):
    m = mx()
    msg = tmp_path / "swaks.txt"
    # swaks adds a CRLF after the data, so the file has no final newline
    msg.write_bytes(b"Subject: via swaks\nX-Test: 1\n\nline one\n.dot line")
    p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % m.port,
                        "--to", "alice@test.example", "--from",
                        "sw@sender.example", "--helo", "swaks.example",
                        "--data", str(msg)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    qid = re.search(r"<-  250 2\.0\.0 Ok: queued as (\S+)", p.stdout)
    assert qid, p.stdout
    assert "<-  221 2.0.0 Bye" in p.stdout
    name, data = only_message(m, "alice")
    check_file(m, name, data, sender="sw@sender.example", qid=qid.group(1),
               rcpts=["alice@test.example"], helo="swaks.example",
               body="Subject: via swaks\nX-Test: 1\n\nline one\n.dot line\n")


def test_null_sender(mx):
    m = mx()
    qid = send_message(m, "", ["alice@test.example"], "Subject: bounce\n\nx\n")
    name, data = only_message(m, "alice")
    check_file(m, name, data, sender="", qid=qid,
               rcpts=["alice@test.example"], body="Subject: bounce\n\nx\n")


def test_empty_message(mx):
    m = mx()
    c = session(m)
    qid = transaction(c, "s@sender.example", ["alice@test.example"], b"")
    name, data = only_message(m, "alice")
    check_file(m, name, data, sender="s@sender.example", qid=qid,
               rcpts=["alice@test.example"], body="")


def test_dot_unstuffing_exact(mx):
    m = mx()
    c = session(m)
    raw = (b"Subject: dots\r\n\r\n..leading\r\n...\r\n.. \r\n.x\r\n"
           b"mid.dle\r\n..\r\nend.\r\n")
    qid = transaction(c, "s@sender.example", ["alice@test.example"], raw)
    name, data = only_message(m, "alice")
    check_file(m, name, data, sender="s@sender.example", qid=qid,
               rcpts=["alice@test.example"],
               body=b"Subject: dots\n\n.leading\n..\n. \nx\nmid.dle\n.\n"
                    b"end.\n")


def test_8bit_body(mx):
    m = mx()
    body = ("Subject: =?utf-8?q?caf=C3=A9?=\nContent-Type: text/plain; "
            "charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            "Grüße, café, 日本語\n").encode("utf-8") + \
        bytes(b for b in range(0x80, 0x100)) + b"\n"
    c = session(m)
    qid = transaction(c, "s@sender.example", ["alice@test.example"],
                      wire(body), params=" BODY=8BITMIME")
    name, data = only_message(m, "alice")
    check_file(m, name, data, sender="s@sender.example", qid=qid,
               rcpts=["alice@test.example"], body=body)


def test_smtputf8(mx):
    m = mx()
    c = session(m)
    c.cmd("MAIL FROM:<jösé@exämple.example>", 553,
          "5.6.7 Non-ASCII address needs SMTPUTF8")
    qid = transaction(c, "jösé@exämple.example", ["alice@test.example"],
                      wire("Subject: utf8\n\nx\n"), params=" SMTPUTF8")
    name, data = only_message(m, "alice")
    check_file(m, name, data, sender="jösé@exämple.example", qid=qid,
               rcpts=["alice@test.example"], body="Subject: utf8\n\nx\n",
               proto="UTF8SMTP")


def test_long_data_line_accepted(mx):
    m = mx()
    line = "y" * 5000
    body = "Subject: long\n\n%s\n" % line
    qid = send_message(m, "s@sender.example", ["alice@test.example"], body)
    name, data = only_message(m, "alice")
    check_file(m, name, data, sender="s@sender.example", qid=qid,
               rcpts=["alice@test.example"], body=body)


def test_data_line_over_bound(mx):
    m = mx()
    c = session(m)
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    c.cmd("RCPT TO:<alice@test.example>", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: x\r\n\r\n" + b"z" * 70000 + b"\r\nmore\r\n.\r\n")
    c.expect(554, "5.6.0 Message line longer than 65536 octets")
    c.cmd("NOOP", 250, "2.0.0 Ok")
    assert m.all_messages() == []


def test_helo_sanitised_in_received(mx):
    m = mx()
    c = m.connect()
    r = c.cmd(b"EHLO evil(x)\\y\xc3\xa9.example", None)
    if r.code != 250:
        pytest.skip("EHLO argument refused (%s); nothing to sanitise" % r)
    transaction(c, "s@sender.example", ["alice@test.example"],
                wire("Subject: s\n\nx\n"))
    _, data = only_message(m, "alice")
    head = data.split(b"\n\tby ")[0]
    token = rb"[\x21-\x27\x2a-\x5b\x5d-\x7e]+"    # no space ( ) \\ 8-bit
    assert re.match(rb"^Return-Path: <s@sender\.example>\nReceived: from "
                    + token + rb" \(unknown \[127\.0\.0\.1\]\)$", head), head


# -- recipients ---------------------------------------------------------------

def test_multiple_recipients_one_copy_per_maildir(mx):
    m = mx()
    rcpts = ["alice@test.example", "carol@test.example", "dave@test.example",
             "bob@test.example"]
    body = "Subject: many\n\nhi all\n"
    qid = send_message(m, "s@sender.example", rcpts, body)
    msgs = m.all_messages()
    assert sorted(rel for rel, _, _ in msgs) == ["alice", "bob", "shared"], \
        [(rel, n) for rel, n, _ in msgs]
    inodes = set()
    for rel, name, data in msgs:
        check_file(m, name, data, sender="s@sender.example", qid=qid,
                   rcpts=rcpts, body=body)
        inodes.add(os.stat(os.path.join(m.maildir_root, rel, "new",
                                        name)).st_ino)
    # written once, hard-linked into each new/ (DESIGN 4)
    assert len(inodes) == 1, "copies are not hard links of one file"


def test_recipient_delimiter(mx):
    m = mx()
    qid = send_message(m, "s@sender.example", ["alice+tag@test.example"],
                       "Subject: d\n\nx\n")
    name, data = only_message(m, "alice")
    check_file(m, name, data, sender="s@sender.example", qid=qid,
               rcpts=["alice+tag@test.example"], body="Subject: d\n\nx\n")
    # alice and alice+tag share a maildir: one copy
    c = session(m)
    transaction(c, "s@sender.example",
                ["alice@test.example", "alice+x@test.example"],
                wire("Subject: twice\n\nx\n"))
    assert len(m.maildir("alice").new) == 2


def test_recipient_delimiter_changed(mx):
    m = mx(recipient_delimiter="-")
    c = session(m)
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    c.cmd("RCPT TO:<alice+tag@test.example>", 550,
          "5.1.1 <alice+tag@test.example>: Recipient address rejected: "
          "User unknown")
    c.cmd("RCPT TO:<alice-tag@test.example>", 250)
    c.cmd("DATA", 354)
    c.send(b"x\r\n.\r\n")
    c.expect(250, QUEUED)
    only_message(m, "alice")


def test_exact_entry_beats_delimiter(mx):
    table = dict(e2elib.DEFAULT_TABLE)
    table["bob+lists@test.example"] = "lists"
    m = mx(table=table)
    c = session(m)
    transaction(c, "s@sender.example", ["bob+lists@test.example"],
                wire("x\n"))
    transaction(c, "s@sender.example", ["bob+other@test.example"],
                wire("x\n"))
    assert len(m.maildir("lists").new) == 1
    assert len(m.maildir("bob").new) == 1


def test_catch_all_and_exact_entry(mx):
    m = mx()
    c = session(m)
    transaction(c, "s@sender.example", ["anyone@other.example"], wire("1\n"))
    transaction(c, "s@sender.example", ["Zed.Q@OTHER.example"], wire("2\n"))
    transaction(c, "s@sender.example", ["postmaster@other.example"],
                wire("3\n"))
    assert len(m.maildir("catchall").new) == 2
    assert len(m.maildir("pm-other").new) == 1


def test_case_insensitive_addresses(mx):
    m = mx()
    c = session(m)
    for a in ("ALICE@TEST.EXAMPLE", "Alice@Test.Example",
              "alice@TEST.example"):
        qid = transaction(c, "s@sender.example", [a], wire("x\n"))
        name, data = [(n, d) for n, d in m.maildir("alice").new.items()
                      if n.startswith(qid + ".")][0]
        # the Received header keeps the address as the client wrote it
        assert ("\n\tfor <%s>; " % a).encode() in data
    assert len(m.maildir("alice").new) == 3


def test_postmaster_every_domain_and_bare(mx):
    m = mx()
    c = session(m)
    transaction(c, "s@sender.example", ["postmaster@test.example"],
                wire("1\n"))
    transaction(c, "s@sender.example", ["PostMaster@Test.Example"],
                wire("2\n"))
    transaction(c, "s@sender.example", ["postmaster@other.example"],
                wire("3\n"))
    # RFC 5321 4.5.1: a bare <postmaster> must be accepted
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    c.cmd("RCPT TO:<postmaster>", 250, "2.1.5 Ok")
    c.cmd("RCPT TO:<POSTMASTER>", 250, "2.1.5 Ok")
    c.cmd("DATA", 354)
    c.send(b"4\r\n.\r\n")
    c.expect(250, QUEUED)
    assert len(m.maildir("postmaster").new) == 3
    assert len(m.maildir("pm-other").new) == 1


def test_unknown_user_and_relay(mx):
    m = mx()
    c = session(m)
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    c.cmd("RCPT TO:<nobody@test.example>", 550,
          "5.1.1 <nobody@test.example>: Recipient address rejected: "
          "User unknown")
    for a in ("someone@elsewhere.example", "alice@sub.test.example",
              "alice@test.example.evil.example"):
        c.cmd("RCPT TO:<%s>" % a, 554, "5.7.1 <%s>: Relay access denied" % a)
    # source routes are tolerated and ignored (RFC 5321 4.1.1.3, C.)
    c.cmd("RCPT TO:<@relay.example:alice@test.example>", 250)
    c.cmd("DATA", 354)
    c.send(b"x\r\n.\r\n")
    c.expect(250, QUEUED)
    only_message(m, "alice")


def test_local_part_never_builds_a_path(mx):
    m = mx()
    before = sorted(os.listdir(m.dir))
    c = session(m)
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    r = c.cmd("RCPT TO:<../alice@test.example>")     # bad dot-string
    assert r.code in (550, 553), c.dump()
    c.cmd('RCPT TO:<"../../../etc"@test.example>', 550)
    c.cmd('RCPT TO:<"../x/../../y"@other.example>', 250)
    c.cmd("RCPT TO:<..@other.example>", None)   # syntax: 553 or catch-all 250
    c.cmd("DATA", 354)
    c.send(b"x\r\n.\r\n")
    c.expect(250, QUEUED)
    only_message(m, "catchall")
    assert sorted(os.listdir(m.maildir_root)) == ["catchall"]
    assert sorted(os.listdir(m.dir)) == before


def test_max_recipients(mx):
    m = mx(max_recipients=2)
    c = session(m)
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    c.cmd("RCPT TO:<alice@test.example>", 250)
    c.cmd("RCPT TO:<bob@test.example>", 250)
    c.cmd("RCPT TO:<carol@test.example>", 452,
          "4.5.3 Error: too many recipients")
    c.cmd("DATA", 354)
    c.send(b"x\r\n.\r\n")
    c.expect(250, QUEUED)
    assert sorted(rel for rel, _, _ in m.all_messages()) == ["alice", "bob"]


# -- command syntax and sequence ----------------------------------------------

@pytest.mark.parametrize("line,code,text", [
    ("MAIL FROM:a@sender.example", 501, "5.5.4 Syntax: MAIL FROM:<address>"),
    ("MAIL TO:<a@sender.example>", 501, "5.5.4 Syntax: MAIL FROM:<address>"),
    ("MAIL", 501, "5.5.4 Syntax: MAIL FROM:<address>"),
    ("MAIL FROM:<a@sender.example", 501, "5.5.4 Syntax: MAIL FROM:<address>"),
    ("MAIL FROM:<a@>", 553, "5.1.3 Bad sender address syntax"),
    ("MAIL FROM:<@sender.example>", 553, "5.1.3 Bad sender address syntax"),
    ("MAIL FROM:<a b@sender.example>", 553,
     "5.1.3 Bad sender address syntax"),
    ("MAIL FROM:<a@sender..example>", 553,
     "5.1.3 Bad sender address syntax"),
    ("MAIL FROM:<a@-sender.example>", 553,
     "5.1.3 Bad sender address syntax"),
    ("MAIL FROM:<%s@sender.example>" % ("l" * 65), 553,
     "5.1.3 Bad sender address syntax"),
    ("MAIL FROM:<a@[300.1.1.1]>", 553, "5.1.3 Bad sender address syntax"),
    ("MAIL FROM:<a@sender.example> FOO=bar", 555,
     re.compile(r"^5\.5\.4 Unsupported option: FOO(=bar)?$")),
    ("MAIL FROM:<a@sender.example> SIZE=abc", 501, None),
    ("MAIL FROM:<a@sender.example> BODY=9BIT", 501, None),
    # a 25 MB attachment, base64-encoded, fits the default (50M)
    ("MAIL FROM:<a@sender.example> SIZE=35000000", 250, "2.1.0 Ok"),
    ("MAIL FROM:<a@sender.example> SIZE=52428801", 552,
     "5.3.4 Message size exceeds fixed limit"),
    ("MAIL FROM:<a@sender.example> SIZE=99999999999999999999999", 552, None),
    # accepted forms
    ("MAIL FROM:<a@sender.example>", 250, "2.1.0 Ok"),
    ("MAIL FROM:<>", 250, "2.1.0 Ok"),
    ('MAIL FROM:<"a b"@sender.example>', 250, "2.1.0 Ok"),
    ('MAIL FROM:<"a\\"b"@sender.example>', 250, "2.1.0 Ok"),
    ("MAIL FROM:<a@[192.0.2.1]>", 250, "2.1.0 Ok"),
    ("MAIL FROM:<a@[IPv6:2001:db8::1]>", 250, "2.1.0 Ok"),
    ("MAIL FROM:<@r1.example,@r2.example:a@sender.example>", 250, "2.1.0 Ok"),
    ("MAIL FROM:<a@sender.example> SIZE=1000", 250, "2.1.0 Ok"),
    ("MAIL FROM:<a@sender.example> size=1000 body=8bitmime", 250, "2.1.0 Ok"),
    ("MAIL FROM:<a@sender.example> BODY=7BIT", 250, "2.1.0 Ok"),
    ("MAIL FROM:<a@sender.example> SMTPUTF8", 250, "2.1.0 Ok"),
    ("MAIL FROM:<%s@sender.example>" % ("l" * 64), 250, "2.1.0 Ok"),
])
def test_mail_syntax(mx_shared, line, code, text):
    c = session(mx_shared)
    c.cmd(line, code, text)
    c.cmd("QUIT", 221)


@pytest.mark.parametrize("line,code,text", [
    ("RCPT TO:alice@test.example", 501, "5.5.4 Syntax: RCPT TO:<address>"),
    ("RCPT FROM:<alice@test.example>", 501,
     "5.5.4 Syntax: RCPT TO:<address>"),
    ("RCPT", 501, "5.5.4 Syntax: RCPT TO:<address>"),
    ("RCPT TO:<>", (501, 553), None),
    ("RCPT TO:<alice@>", 553, "5.1.3 Bad recipient address syntax"),
    ("RCPT TO:<ali ce@test.example>", 553,
     "5.1.3 Bad recipient address syntax"),
    ("RCPT TO:<alice@test.example> NOTIFY=NEVER", 555,
     re.compile(r"^5\.5\.4 Unsupported option: NOTIFY(=NEVER)?$")),
    ("RCPT TO:<alice@test.example>", 250, "2.1.5 Ok"),
    ("RCPT TO:<\"alice\"@test.example>", 250, "2.1.5 Ok"),
])
def test_rcpt_syntax(mx_shared, line, code, text):
    c = session(mx_shared)
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    if isinstance(code, tuple):
        r = c.cmd(line)
        assert r.code in code, c.dump()
    else:
        c.cmd(line, code, text)
    c.cmd("QUIT", 221)


@pytest.fixture(scope="module")
def _shared_daemon(tmp_path_factory, strictmxd_path):
    """One daemon for the many one-line syntax cases (fast)."""
    if not os.access(strictmxd_path, os.X_OK):
        pytest.fail("no strictmxd at %s" % strictmxd_path)
    d = e2elib.Strictmxd(strictmxd_path, tmp_path_factory.mktemp("shared"))
    d.configure(max_errors=1000)
    d.start()
    yield d
    d.stop()
    assert not d.sanitizer_reports(), d.log_tail()
    assert not d.tmp_files()


@pytest.fixture
def mx_shared(_shared_daemon):
    assert _shared_daemon.running(), _shared_daemon.log_tail()
    return _shared_daemon


def test_command_sequence_errors(mx):
    m = mx(max_errors=50)
    c = session(m)
    c.cmd("RCPT TO:<alice@test.example>", 503,
          "5.5.1 Error: need MAIL command")
    c.cmd("DATA", 503, "5.5.1 Error: need MAIL command")
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    c.cmd("MAIL FROM:<s@sender.example>", 503,
          "5.5.1 Error: nested MAIL command")
    c.cmd("DATA", 503, "5.5.1 Error: need RCPT command")
    c.cmd("RCPT TO:<nobody@test.example>", 550)
    c.cmd("DATA", 503, "5.5.1 Error: need RCPT command")
    c.cmd("RCPT TO:<alice@test.example>", 250)
    c.cmd("RSET", 250, "2.0.0 Ok")
    c.cmd("DATA", 503, "5.5.1 Error: need MAIL command")
    c.cmd("RCPT TO:<alice@test.example>", 503,
          "5.5.1 Error: need MAIL command")
    c.cmd("MAIL FROM:<s@sender.example>", 250, "2.1.0 Ok")
    c.cmd("QUIT", 221)
    c.expect_close()
    assert m.all_messages() == []


def test_misc_commands(mx):
    m = mx()
    c = session(m)
    c.cmd("NOOP", 250, "2.0.0 Ok")
    c.cmd("VRFY alice@test.example", 252,
          "2.0.0 Send some mail, I'll try my best")
    c.cmd("EXPN staff", 502, "5.5.1 Error: command not implemented")
    c.cmd("HELP", 214, "2.0.0 See https://www.rfc-editor.org/rfc/rfc5321")
    c.cmd("XYZZY", 500, "5.5.2 Error: command not recognized")
    c.cmd("MAILFROM:<a@b.example>", 500, "5.5.2 Error: command not recognized")
    c.cmd(b"NO\x00OP", 500, "5.5.2 Error: command not recognized")
    c.cmd("RSET x", 501, "5.5.4 Syntax: RSET")
    c.cmd("QUIT x", 501, "5.5.4 Syntax: QUIT")
    # the state is checked before the syntax (as Postfix does), so DATA's
    # stray argument shows only once a recipient is there
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    c.cmd("RCPT TO:<alice@test.example>", 250)
    c.cmd("DATA x", 501, "5.5.4 Syntax: DATA")
    c.cmd("RSET", 250, "2.0.0 Ok")
    c.cmd("QUIT", 221, "2.0.0 Bye")
    c.expect_close()


def test_command_line_length(mx):
    m = mx()
    c = session(m)
    # 512 octets with CRLF is the limit (RFC 5321 4.5.3.1.4)
    c.cmd("VRFY " + "a" * (512 - 7), 252)
    c.cmd("VRFY " + "a" * (513 - 7), 500, "5.5.6 Error: line too long")
    c.cmd("NOOP", 250, "2.0.0 Ok")
    # a very long line gets one reply and the session goes on
    c.send(b"MAIL FROM:<" + b"x" * 20000 + b"@sender.example>\r\nNOOP\r\n")
    c.expect(500, "5.5.6 Error: line too long")
    c.expect(250, "2.0.0 Ok")
    transaction(c, "s@sender.example", ["alice@test.example"], wire("x\n"))


def test_max_errors(mx):
    m = mx(max_errors=3)
    c = session(m)
    c.cmd("BAD1", 500)
    c.cmd("BAD2", 500)
    c.line("BAD3")
    rs = replies_until_close(c)
    # the third error is the last: its 500 may precede the 421, or be it
    assert [r.code for r in rs] in ([500, 421], [421]), rs
    assert rs[-1].text == "4.7.0 %s Error: too many errors" % H


def test_timeout_command(mx):
    m = mx(timeout_command="2s")
    c = session(m)
    t0 = time.monotonic()
    c.expect(421, "4.4.2 %s Error: timeout exceeded" % H, timeout=6)
    took = time.monotonic() - t0
    assert 1.5 <= took <= 4.5, "timeout after %.1fs, not ~2s" % took
    c.expect_close()


def test_timeout_data(mx):
    m = mx(timeout_data="2s", timeout_command="30s")
    c = session(m)
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    c.cmd("RCPT TO:<alice@test.example>", 250)
    c.cmd("DATA", 354)
    t0 = time.monotonic()
    c.send(b"Subject: slow\r\n\r\n")
    time.sleep(0.8)
    c.send(b"still sending\r\n")       # activity does not extend it
    c.expect(421, "4.4.2 %s Error: timeout exceeded" % H, timeout=6)
    took = time.monotonic() - t0
    assert 1.5 <= took <= 4.5, "DATA timeout after %.1fs, not ~2s" % took
    c.expect_close()
    assert m.all_messages() == []


def test_max_clients(mx):
    m = mx(max_clients=2)
    a = m.connect()
    b = m.connect(src="127.0.0.2")
    c = m.connect(src="127.0.0.3", greeting=False)
    c.expect(421, "4.7.0 %s Error: too many connections" % H)
    c.expect_close()
    a.cmd("QUIT", 221)
    a.expect_close()

    def free_slot():
        d = m.connect(src="127.0.0.4", greeting=False)
        r = d.read_reply()
        if r.code == 220:
            return d
        d.close()
        return None
    d = wait_until(free_slot, 5, what="a free session slot")
    d.cmd("EHLO client.example", 250)
    b.cmd("NOOP", 250)


def test_max_clients_per_ip(mx):
    m = mx(max_clients_per_ip=2)
    a = m.connect(src="127.0.0.5")
    b = m.connect(src="127.0.0.5")
    c = m.connect(src="127.0.0.5", greeting=False)
    c.expect(421, "4.7.0 %s Error: too many connections from your address"
             % H)
    c.expect_close()
    other = m.connect(src="127.0.0.6")
    other.cmd("NOOP", 250)
    a.cmd("NOOP", 250)
    b.cmd("NOOP", 250)


@pytest.mark.parametrize("prefix", [None, "128", "120"])
def test_max_clients_per_ip_v6_prefix(mx, prefix):
    """An IPv6 client is its client_ipv6_prefix (default /64): a host with
    a /64 cannot take every slot by using a new address per connection."""
    from helolib import add_lo_address
    addrs = ["fd00::1:1", "fd00::1:2", "fd00::1:3", "fd00:0:0:1::7"]
    for x in addrs:
        assert add_lo_address(x), "cannot add %s to lo" % x
    conf = {"listen": "127.0.0.1:{port} [::1]:{port}",
            "max_clients_per_ip": 2}
    if prefix is not None:
        conf["client_ipv6_prefix"] = prefix
    m = mx(**conf)
    a = m.connect(src=addrs[0], host="::1")
    b = m.connect(src=addrs[1], host="::1")
    c = m.connect(src=addrs[2], host="::1", greeting=False)
    if prefix == "128":     # every address a client of its own
        c.greet(220)
        c.cmd("NOOP", 250)
    else:                   # /64 and /120: fd00::1:0/120 holds all three
        c.expect(421, "4.7.0 %s Error: too many connections from your "
                 "network" % H)
        c.expect_close()
        assert "client=%s refused at connect: too many connections from " \
            "your network" % addrs[2] in m.log()
    # another /64 is another client
    other = m.connect(src=addrs[3], host="::1")
    other.cmd("NOOP", 250)
    a.cmd("NOOP", 250)
    b.cmd("NOOP", 250)


@pytest.mark.parametrize("with_dns", [False, True],
                         ids=["no-resolver", "resolver"])
def test_greet_delay(mx, dns, with_dns):
    if with_dns:        # the PTR lookup gets a quick NXDOMAIN
        dns([("A", "client.example", "127.0.0.1")])
    m = mx(greet_delay="2s")
    early = m.connect(greeting=False)
    patient = m.connect(src="127.0.0.2", greeting=False)
    t0 = time.monotonic()
    early.send(b"EHLO early.example\r\n")
    early.expect(554, "5.5.0 %s Error: talked before greeting" % H,
                 timeout=6)
    early.expect_close()
    patient.greet(220, GREETING)
    took = time.monotonic() - t0
    assert 1.5 <= took <= 4.5, "greeting after %.1fs, not ~2s" % took
    patient.cmd("EHLO patient.example", 250)
    transaction(patient, "s@sender.example", ["alice@test.example"],
                wire("x\n"))


# -- pipelining (RFC 2920) ----------------------------------------------------

def test_pipelined_group_replies_in_order(mx):
    m = mx()
    c = session(m)
    c.send(b"MAIL FROM:<s@sender.example>\r\n"
           b"RCPT TO:<alice@test.example>\r\n"
           b"RCPT TO:<nobody@test.example>\r\n"
           b"RCPT TO:<bob@test.example>\r\n"
           b"RCPT TO:<x@elsewhere.example>\r\n"
           b"DATA\r\n")
    c.expect(250, "2.1.0 Ok")
    c.expect(250, "2.1.5 Ok")
    c.expect(550)
    c.expect(250, "2.1.5 Ok")
    c.expect(554)
    c.expect(354)
    # Postfix and Exim send the dot and QUIT in one write
    c.send(b"Subject: p\r\n\r\nbody\r\n.\r\nQUIT\r\n")
    c.expect(250, QUEUED)
    c.expect(221, "2.0.0 Bye")
    c.expect_close()
    assert sorted(rel for rel, _, _ in m.all_messages()) == ["alice", "bob"]


def test_pipelined_dot_then_next_transaction(mx):
    m = mx()
    c = session(m)
    c.send(b"RSET\r\nMAIL FROM:<s@sender.example>\r\n"
           b"RCPT TO:<alice@test.example>\r\nDATA\r\n")
    c.expect(250, "2.0.0 Ok")
    c.expect(250)
    c.expect(250)
    c.expect(354)
    c.send(b"first\r\n.\r\nMAIL FROM:<t@sender.example>\r\n"
           b"RCPT TO:<bob@test.example>\r\nDATA\r\n")
    c.expect(250, QUEUED)
    c.expect(250, "2.1.0 Ok")
    c.expect(250, "2.1.5 Ok")
    c.expect(354)
    c.send(b"second\r\n.\r\n")
    c.expect(250, QUEUED)
    assert sorted(rel for rel, _, _ in m.all_messages()) == ["alice", "bob"]


@pytest.mark.parametrize("setup,group,verb", [
    ([], b"EHLO client.example\r\nMAIL FROM:<s@sender.example>\r\n", "EHLO"),
    ([], b"HELO client.example\r\nNOOP\r\n", "HELO"),
    (["EHLO client.example"], b"NOOP\r\nNOOP\r\n", "NOOP"),
    (["EHLO client.example"], b"VRFY alice\r\nNOOP\r\n", "VRFY"),
    (["EHLO client.example"],
     b"MAIL FROM:<s@sender.example>\r\nRCPT TO:<alice@test.example>\r\n"
     b"DATA\r\nSubject: too early\r\n\r\nx\r\n.\r\n", "DATA"),
])
def test_pipelining_sync_error(mx, setup, group, verb):
    m = mx()
    c = m.connect()
    for line in setup:
        c.cmd(line, 250)
    c.send(group)
    rs = replies_until_close(c)
    assert rs, "no reply before close\n" + c.dump()
    assert rs[-1].code == 554 and rs[-1].text == \
        "5.5.0 Error: improper command pipelining after %s" % verb, \
        c.dump()
    before = [r.code for r in rs[:-1]]
    # replies to the commands before the offending one, and possibly the
    # offending command's own reply, but nothing for what followed it
    allowed = {"EHLO": [[], [250]], "HELO": [[], [250]], "NOOP": [[], [250]],
               "VRFY": [[], [252]], "DATA": [[250, 250], [250, 250, 354]]}
    assert before in allowed[verb], c.dump()
    assert m.all_messages() == []


# -- DATA: smuggling, bare newlines, size -------------------------------------

SMUGGLE = [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n"]
SMUGGLE_IDS = ["LF.LF", "LF.CRLF", "CRLF.LF", "CR.CRLF"]


def smuggling_payload(seq):
    return (b"Subject: smuggle\r\n\r\nbefore" + seq +
            b"MAIL FROM:<evil@attacker.example>\r\n"
            b"RCPT TO:<bob@test.example>\r\nDATA\r\n"
            b"Subject: smuggled\r\n\r\nevil body\r\n")


@pytest.mark.parametrize("seq", SMUGGLE, ids=SMUGGLE_IDS)
def test_smuggling_normalize(mx, seq):
    m = mx(bare_newline="normalize")
    c = session(m)
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    c.cmd("RCPT TO:<alice@test.example>", 250)
    c.cmd("DATA", 354)
    c.send(smuggling_payload(seq) + b".\r\n")
    c.expect(250, QUEUED)
    c.cmd("NOOP", 250, "2.0.0 Ok")   # not a reply to a smuggled command
    _, data = only_message(m, "alice")
    assert b"MAIL FROM:<evil@attacker.example>\n" in data
    assert b"\nevil body\n" in data
    assert b"\r" not in data.split(b"\n\n", 1)[1], "CR left in the body"


@pytest.mark.parametrize("seq", SMUGGLE, ids=SMUGGLE_IDS)
def test_smuggling_reject(mx, seq):
    m = mx()            # bare_newline reject is the default
    c = session(m)
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    c.cmd("RCPT TO:<alice@test.example>", 250)
    c.cmd("DATA", 354)
    c.send(smuggling_payload(seq) + b".\r\n")
    c.expect(550, "5.5.2 Message contains bare LF or bare CR "
             "(see bare_newline)")
    c.cmd("NOOP", 250, "2.0.0 Ok")
    assert m.all_messages() == []


def test_bare_cr_normalize(mx):
    m = mx(bare_newline="normalize")
    c = session(m)
    transaction(c, "s@sender.example", ["alice@test.example"],
                b"Subject: cr\r\n\r\none\rtwo\r\nthree\r\n")
    _, data = only_message(m, "alice")
    body = data.split(b"\n\n", 1)[1]
    assert b"\r" not in body and body.startswith(b"one") and \
        body.endswith(b"two\nthree\n"), body


def test_bare_newline_normalize_converts(mx):
    m = mx(bare_newline="normalize")
    c = session(m)
    qid = transaction(c, "s@sender.example", ["alice@test.example"],
                      b"Subject: bare\r\n\r\none\ntwo\r\nthree\r\n")
    name, data = only_message(m, "alice")
    check_file(m, name, data, sender="s@sender.example", qid=qid,
               rcpts=["alice@test.example"],
               body="Subject: bare\n\none\ntwo\nthree\n")


def test_max_message_size(mx):
    m = mx(max_message_size="1K")
    c = session(m)
    assert "SIZE 1024" in c.cmd("EHLO client.example", 250).lines
    c.cmd("MAIL FROM:<s@sender.example> SIZE=2000", 552,
          "5.3.4 Message size exceeds fixed limit")
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    c.cmd("RCPT TO:<alice@test.example>", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 40 + b".\r\n")
    c.expect(552, "5.3.4 Message size exceeds fixed limit")
    c.cmd("NOOP", 250, "2.0.0 Ok")
    transaction(c, "s@sender.example", ["alice@test.example"],
                wire("Subject: small\n\nok\n"))
    assert len(m.all_messages()) == 1


def test_one_failing_maildir_delivers_to_none(mx):
    """DESIGN 4: all recipients or none. bob's new/ is a file, so the hard
    link into it fails after alice's copy was written: 451 4.3.0 (at DATA
    or after the dot) and alice gets nothing either."""
    m = mx()
    bob = os.path.join(m.maildir_root, "bob")
    os.makedirs(os.path.join(bob, "tmp"))
    os.makedirs(os.path.join(bob, "cur"))
    with open(os.path.join(bob, "new"), "w") as f:
        f.write("not a directory\n")
    c = session(m)
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    c.cmd("RCPT TO:<alice@test.example>", 250)
    c.cmd("RCPT TO:<bob@test.example>", 250)
    r = c.cmd("DATA")
    if r.code == 354:
        c.send(b"Subject: half\r\n\r\nx\r\n.\r\n")
        r = c.read_reply()
    assert (r.code, r.text) == (451, "4.3.0 Error: local delivery failed"), \
        c.dump()
    c.cmd("NOOP", 250)
    assert m.all_messages() == []
    assert not m.tmp_files()


def test_user_drops_privileges(mx, tmp_path):
    import pwd
    import shutil
    import tempfile
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    with open("/proc/self/uid_map") as f:
        if f.read().split() != ["0", "0", "4294967295"]:
            pytest.skip("not real root: cannot switch to nobody")
    # pytest's tmp dirs are 0700 root: nobody needs a place of its own
    spool = tempfile.mkdtemp(prefix="strictmx-e2e-")
    try:
        os.chmod(spool, 0o755)
        os.chown(spool, nobody.pw_uid, nobody.pw_gid)
        # the maildir root must be writable by nobody before the start:
        # strictmxd checks it (and refuses to start) after dropping to it
        mail = os.path.join(spool, "mail")
        os.mkdir(mail, 0o700)
        os.chown(mail, nobody.pw_uid, nobody.pw_gid)
        m = mx(user="nobody", maildir_root=mail,
               stats_db=os.path.join(spool, "stats.db"))
        uids = [ln.split()[1:] for ln in open("/proc/%d/status" % m.pid)
                if ln.startswith("Uid:")][0]
        assert uids == [str(nobody.pw_uid)] * 4, uids
        send_message(m, "s@sender.example", ["alice@test.example"], "x\n")
        name, _ = only_message(m, "alice")
        st = os.stat(os.path.join(m.maildir_root, "alice", "new", name))
        assert st.st_uid == nobody.pw_uid
        m.stop()
    finally:
        shutil.rmtree(spool, ignore_errors=True)


def test_enhanced_status_codes_everywhere(mx):
    """RFC 2034: every reply but the greeting and HELO/EHLO carries an
    enhanced code whose class is the reply's first digit."""
    m = mx(max_errors=100)
    c = m.connect()
    c.cmd("EHLO client.example", 250)
    lines = ["NOOP", "VRFY x", "EXPN x", "HELP", "XYZZY", "RSET",
             "RCPT TO:<alice@test.example>", "DATA",
             "MAIL FROM:<a@b.example> FOO=1", "MAIL FROM:<a@>",
             "MAIL FROM:a", "MAIL FROM:<s@sender.example>",
             "MAIL FROM:<s@sender.example>", "DATA",
             "RCPT TO:<nobody@test.example>", "RCPT TO:<x@elsewhere.example>",
             "RCPT TO:<alice@>", "RCPT TO:<alice@test.example>", "RSET x",
             "VRFY " + "v" * 600, "QUIT"]
    for line in lines:
        r = c.cmd(line)
        m2 = re.match(r"^([245])\.\d{1,3}\.\d{1,3} ", r.text)
        assert m2 and int(m2.group(1)) == r.code // 100, \
            "no enhanced status code in reply to %r: %s" % (line[:40], r)
    c.expect_close()


def test_disconnect_during_data_delivers_nothing(mx):
    m = mx()
    c = session(m)
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    c.cmd("RCPT TO:<alice@test.example>", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: cut\r\n\r\n" + b"partial line\r\n" * 1000)
    c.close()
    # the daemon notices; a new session works and nothing was delivered
    c2 = session(m)
    c2.cmd("NOOP", 250)
    wait_until(lambda: not m.tmp_files(), 5, what="tmp/ to be cleaned")
    assert m.all_messages() == []


def test_25mb_message_streams_to_disk(mx):
    """A 25 MB (25,000,000 octet) message is delivered intact and the
    daemon's peak RSS (VmHWM) grows by less than 8 MiB while receiving it:
    DATA is streamed to disk, never held in memory. (ASan's quarantine is
    limited to 1 MB for this daemon so that an ASan build can pass too.)"""
    env = {"ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") +
                            ":quarantine_size_mb=1").lstrip(":")}
    m = mx(env=env)
    line_len = 78
    n = 25_000_000 // (line_len + 2)
    filler = b"abcdefghijklmnopqrstuvwxyz0123456789" * 3
    lines = [(b"%08d " % i + filler)[:line_len] for i in range(n)]
    assert all(len(x) == line_len for x in lines[:3])
    payload = b"Subject: big\r\n\r\n" + b"\r\n".join(lines) + b"\r\n"
    stored = b"Subject: big\n\n" + b"\n".join(lines) + b"\n"
    c = session(m)
    c.cmd("MAIL FROM:<s@sender.example> SIZE=%d" % len(payload), 250)
    c.cmd("RCPT TO:<alice@test.example>", 250)
    c.cmd("DATA", 354)
    hwm0 = m.vm("VmHWM")
    c.send(payload + b".\r\n", timeout=60)
    qid = QUEUED.match(c.expect(250, QUEUED, timeout=60).text).group(1)
    hwm1 = m.vm("VmHWM")
    name, data = only_message(m, "alice")
    head, _, body = data.partition(b"\nSubject: big\n")
    assert hashlib.sha256(b"Subject: big\n" + body).hexdigest() == \
        hashlib.sha256(stored).hexdigest(), "the stored body differs"
    check_file(m, name, head + b"\n", sender="s@sender.example", qid=qid,
               rcpts=["alice@test.example"], body=b"",
               size=len(data))
    os.unlink(os.path.join(m.maildir_root, "alice", "new", name))
    growth = hwm1 - hwm0
    print("VmHWM %d -> %d KiB (+%d KiB) for a 25 MB message"
          % (hwm0, hwm1, growth))
    assert growth < 8 * 1024, "VmHWM grew by %d KiB (from %d to %d KiB) " \
        "for a 25 MB message" % (growth, hwm0, hwm1)


def test_concurrent_clients(mx):
    m = mx()
    n = 30
    barrier = threading.Barrier(n, timeout=15)
    errors = []

    def client(i):
        try:
            s = m.smtplib(src="127.0.0.%d" % (10 + i % 10),
                          helo="c%d.client.example" % i)
            s.ehlo()
            barrier.wait()          # all 30 sessions open at once
            s.sendmail("s%d@sender.example" % i, ["alice@test.example"],
                       "Subject: concurrent %d\n\nbody %d\n" % (i, i))
            s.quit()
        except Exception as e:      # reported below
            errors.append((i, repr(e)))
    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    md = m.maildir("alice")
    subjects = sorted(re.search(rb"Subject: concurrent (\d+)", d).group(1)
                      for d in md.new.values())
    assert subjects == sorted(b"%d" % i for i in range(n))
    assert not md.tmp


def test_ipv6_listener(mx):
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    m = mx(listen="127.0.0.1:{port} [::1]:{port}")
    c = m.connect(src="::1", host="::1")
    c.cmd("EHLO v6.client.example", 250)
    qid = transaction(c, "s@sender.example", ["alice@test.example"],
                      wire("Subject: v6\n\nx\n"))
    name, data = only_message(m, "alice")
    check_file(m, name, data, sender="s@sender.example", qid=qid,
               rcpts=["alice@test.example"], body="Subject: v6\n\nx\n",
               helo="v6.client.example", ip="IPv6:::1")
    m.connect().cmd("QUIT", 221)


# -- disk full ----------------------------------------------------------------

def test_disk_full(tiny_fs, mx):
    root = tiny_fs("256k")
    m = mx(maildir_root=str(root))
    c = session(m)
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    c.cmd("RCPT TO:<alice@test.example>", 250)
    c.cmd("RCPT TO:<bob@test.example>", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: too big for the disk\r\n\r\n" +
           (b"f" * 998 + b"\r\n") * 600 + b".\r\n")
    c.expect(452, "4.3.1 Insufficient system storage", timeout=10)
    # the postmaster learns where: the maildir is named in the log
    m.wait_log(r"delivery failed into %s/alice \(and others\): No space"
               % re.escape(str(root)), timeout=5)
    files = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
    assert files == [], "partial files left: %s" % files
    # the space came back: a small message fits
    c.cmd("NOOP", 250)
    transaction(c, "s@sender.example", ["alice@test.example"],
                wire("Subject: small\n\nfits\n"))
    assert [rel for rel, _, _ in m.all_messages()] == ["alice"]


# -- signals ------------------------------------------------------------------

def test_sigterm_idle_sessions(mx):
    m = mx()
    a = m.connect()
    b = session(m, src="127.0.0.2")
    b.cmd("MAIL FROM:<s@sender.example>", 250)
    b.cmd("RCPT TO:<alice@test.example>", 250)
    m.signal(signal.SIGTERM)
    a.expect(421, SHUTDOWN)
    a.expect_close()
    b.expect(421, SHUTDOWN)
    b.expect_close()
    assert m.wait(10) == 0, m.log_tail()
    with pytest.raises(ConnectionRefusedError):
        Client("127.0.0.1", m.port)
    assert m.all_messages() == []
    assert "STOPPING=1" in m.notifications()


def test_sigterm_during_data(mx):
    m = mx()
    idle = session(m, src="127.0.0.2")
    c = session(m)
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    c.cmd("RCPT TO:<alice@test.example>", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: term\r\n\r\nfirst half\r\n")
    m.signal(signal.SIGTERM)
    # the idle session's 421 shows the daemon is shutting down now
    idle.expect(421, SHUTDOWN)
    idle.expect_close()
    c.send(b"second half\r\n.\r\n")
    qid = QUEUED.match(c.expect(250, QUEUED).text).group(1)
    try:
        c.line("QUIT")
        r = c.read_reply()
        assert (r.code, r.text) in ((221, "2.0.0 Bye"), (421, SHUTDOWN)), r
    except (ConnectionClosed, BrokenPipeError, ConnectionResetError):
        pass
    assert c.is_closed(5)
    assert m.wait(10) == 0, m.log_tail()
    name, data = only_message(m, "alice")
    check_file(m, name, data, sender="s@sender.example", qid=qid,
               rcpts=["alice@test.example"],
               body="Subject: term\n\nfirst half\nsecond half\n")


def test_sd_notify_protocol(mx):
    """systemd Type=notify: READY=1 once serving (the harness waits for it
    at every start), RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on
    SIGTERM."""
    m = mx()
    assert m.notifications()[0] == "READY=1", m.notes
    m.hup()
    m.stop()
    notes = m.notifications()
    assert notes[0] == "READY=1" and "STOPPING=1" in notes, notes
    k = notes.index("RELOADING=1")
    assert "READY=1" in notes[k + 1:notes.index("STOPPING=1")], notes


def _accepts(m, rcpt):
    with m.connect() as c:
        c.cmd("EHLO client.example", 250)
        c.cmd("MAIL FROM:<s@sender.example>", 250)
        return c.cmd("RCPT TO:<%s>" % rcpt).code == 250


def test_sighup_reloads_table(mx):
    m = mx()
    open_session = session(m, src="127.0.0.2")
    assert not _accepts(m, "newbie@test.example")
    table = dict(e2elib.DEFAULT_TABLE)
    table["newbie@test.example"] = "newbie"
    m.write_table(table)
    pid = m.pid
    m.hup()
    wait_until(lambda: _accepts(m, "newbie@test.example"), 5,
               what="newbie@ to be accepted after SIGHUP")
    send_message(m, "s@sender.example", ["newbie@test.example"], "x\n")
    assert len(m.maildir("newbie").new) == 1
    # the session open across the reload goes on
    open_session.cmd("NOOP", 250)
    transaction(open_session, "s@sender.example", ["alice@test.example"],
                wire("y\n"))
    assert len(m.maildir("alice").new) == 1
    assert m.running() and m.pid == pid


def test_sighup_broken_config_keeps_old(mx):
    m = mx()
    open_session = session(m, src="127.0.0.2")
    table = dict(e2elib.DEFAULT_TABLE)
    table["newbie@test.example"] = "newbie"
    m.configure(table=table, extra=["no_such_key yes"])
    bad_line = len(m.conf_text.rstrip("\n").split("\n"))
    since = len(m.log())
    m.hup()
    m.wait_log(re.escape(m.conf_path) + ":%d:" % bad_line, since=since)
    assert m.running()
    assert _accepts(m, "alice@test.example")
    assert not _accepts(m, "newbie@test.example"), \
        "a refused reload loaded the new table"
    open_session.cmd("NOOP", 250)
    transaction(open_session, "s@sender.example", ["alice@test.example"],
                wire("y\n"))


def test_sighup_broken_table_keeps_old(mx):
    m = mx()
    with open(m.table_path, "a") as f:
        f.write("newbie@test.example newbie\nthis line is broken\n")
    bad_line = len(open(m.table_path).read().rstrip("\n").split("\n"))
    since = len(m.log())
    m.hup()
    m.wait_log(re.escape(m.table_path) + ":%d:" % bad_line, since=since)
    assert m.running()
    assert _accepts(m, "alice@test.example")
    assert not _accepts(m, "newbie@test.example")


# -- configuration check ------------------------------------------------------

def test_check_good_config(mx):
    m = mx(start=False)
    r = m.check()
    assert r.returncode == 0, r.stdout + r.stderr


def test_check_broken_config_reports_every_error(mx):
    m = mx(start=False, extra=["max_recipients lots", "no_such_key yes",
                               "timeout_command 5x", "max_message_size 12Q"])
    r = m.check()
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    for key in ("max_recipients", "no_such_key", "timeout_command",
                "max_message_size"):
        line = "%s:%d:" % (m.conf_path, m.conf_line(key))
        assert line in out, "no %r in -n output:\n%s" % (line, out)


def test_check_missing_required_key(mx):
    m = mx(start=False, domains=None)
    r = m.check()
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert m.conf_path in out and "domains" in out, out


def test_check_broken_table(mx):
    m = mx(start=False)
    with open(m.table_path, "a") as f:
        f.write("justoneword\n")
    n = len(open(m.table_path).read().rstrip("\n").split("\n"))
    r = m.check()
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "%s:%d:" % (m.table_path, n) in out, out


def test_broken_config_refuses_to_start(mx):
    m = mx(start=False, extra=["bare_newline sometimes"])
    with pytest.raises(e2elib.HarnessError, match="exited"):
        m.start()
    assert m.proc.returncode != 0
    assert "%s:%d:" % (m.conf_path, m.conf_line("bare_newline")) in m.log()
    m.proc = None       # nothing for the teardown to stop


def test_policy_and_limit_replies_log_a_refusal_line(mx):
    """strictmxd(8) LOGGING: every 4xx/5xx that a policy or a limit causes
    is a "refused" line without -v; a syntax error is not."""
    m = mx(max_recipients=1, max_errors=3, max_message_size="1K")
    c = session(m, src="127.0.0.7")
    c.cmd("MAIL FROM:<big@sender.example> SIZE=2000", 552)
    c.cmd("MAIL FROM:<j\u00f6rg@sender.example>", 553, "5.6.7 Non-ASCII "
          "address needs SMTPUTF8")
    c.cmd("MAIL FROM:<a@sender.example>", 250)
    c.cmd("RCPT TO:<alice@test.example>", 250)
    c.cmd("RCPT TO:<bob@test.example>", 452)
    c.cmd("RCPT TO:<b\u00f6b@test.example>", 553)
    c.line("MAIL")              # the third error: past max_errors
    c.expect(503)
    c.expect(421)
    c.expect_close()
    want = [
        r'refused client=127\.0\.0\.7 helo="client\.example" '
        r'from="<big@sender\.example>" cmd="MAIL" code=552 '
        r'reply="552 5\.3\.4 Message size exceeds fixed limit"',
        r'refused client=127\.0\.0\.7 .*from="<j\\xc3\\xb6rg@sender\.example>" '
        r'cmd="MAIL" code=553 reply="553 5\.6\.7 ',
        r'refused client=127\.0\.0\.7 .*from="<a@sender\.example>" '
        r'to="<bob@test\.example>" cmd="RCPT" code=452 '
        r'reply="452 4\.5\.3 Error: too many recipients"',
        r'refused client=127\.0\.0\.7 .*to="<b\\xc3\\xb6b@test\.example>" '
        r'cmd="RCPT" code=553 ',
        r'refused client=127\.0\.0\.7 .*cmd="errors" code=421 '
        r'reply="421 4\.7\.0 .* too many errors"',
    ]
    wait_until(lambda: "too many errors" in m.log(), 5, what="421 logged")
    log = m.log()
    for w in want:
        assert re.search(w, log), (w, m.log_tail())
    # the syntax error itself is no refusal line
    assert not re.search(r'refused .*cmd="MAIL" code=503', log)
    assert "debug:" not in log


def test_journal_stream_gets_no_prefix(mx):
    """With JOURNAL_STREAM naming stderr (systemd.exec(5)) the journal adds
    the identifier: lines carry only the <N> priority, no "strictmxd: "."""
    m = mx(start=False)
    open(m.log_path, "ab").close()
    st = os.stat(m.log_path)
    m.env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
    m.start()
    c = session(m)
    c.cmd("MAIL FROM:<a@sender.example> SIZE=999999999", 552)
    c.cmd("QUIT", 221)
    c.expect_close()
    wait_until(lambda: "disconnect" in m.log(), 5, what="disconnect line")
    lines = m.log().splitlines()
    assert lines and not [ln for ln in lines if "strictmxd:" in ln], lines
    assert any(ln.startswith("<6>strictmx ") and " ready" in ln
               for ln in lines), lines
    assert any(ln.startswith("<6>session=") and " refused " in ln
               for ln in lines), lines


def test_journal_stream_of_another_file_keeps_the_prefix(mx):
    """A JOURNAL_STREAM inherited but not naming our stderr (stderr was
    redirected, sd_journal_stream_fd(3)) is not the journal."""
    m = mx(start=False)
    open(m.log_path, "ab").close()
    st = os.stat(m.log_path)
    m.env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino + 1)
    m.start()
    lines = m.log().splitlines()
    assert lines and all(ln.startswith("strictmxd: ") for ln in lines), lines
