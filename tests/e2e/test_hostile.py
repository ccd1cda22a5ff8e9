# test_hostile.py - end-to-end abuse of the real strictmxd: random byte
# streams in every state, NULs, bare CRs, over-long lines, huge pipelined
# groups, odd addresses, binary DATA, connection storms that slam shut at
# random moments (also mid-DNS and mid-CBV against a hanging remote MX),
# half-closed sockets, a client that never reads, STARTTLS abuse, hostile
# HELO names and sender domains with the policies on, a hostile remote MX
# answering our call-back probes, and running out of descriptors.
#
# Every test ends with check_alive(): a fresh session still delivers, and
# every session the test opened has been freed (the log has as many
# "disconnect" lines as "connect" lines). The mx fixture's teardown then
# checks exit 0 after SIGTERM, no sanitizer report and no file left in a
# maildir's tmp/. Each reply byte stream is checked against RFC 5321 §4.2
# (reply-line = code [SP / "-" textstring] CRLF, textstring = HT / SP /
# printable US-ASCII), so a reply can never carry a control octet, a bare
# CR or 8-bit text back to the client.
#
# Randomness is seeded (SEED), every loop has a count and a deadline, and
# the whole file stays well under 90 s with an ASan+UBSan daemon. Runs in
# run.sh's private namespace, like the rest of the suite.

import os
import random
import re
import select
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

import e2elib
from e2elib import HOSTNAME as H, wait_until
from helolib import ZONE

# STRICTMX_HOSTILE_SEED picks other random streams; STRICTMX_HOSTILE_SOAK=N
# runs N times as many of them (a longer hunt, outside CI: keep N <= 8 so
# each test stays under conftest's 90 s limit).
SEED = int(os.environ.get("STRICTMX_HOSTILE_SEED") or 3821)
SOAK = max(1, int(os.environ.get("STRICTMX_HOSTILE_SOAK") or 1))
CRLF = b"\r\n"

# RFC 5321 §4.2: Reply-line; textstring = 1*(%d09 / %d32-126)
REPLY_LINE = re.compile(rb"^([2-5][0-5][0-9])(?:([ -])([\t\x20-\x7e]*))?$")
CLOSING = (221, 421, 554)


# ---------------------------------------------------------------------------
# helpers

class Stream:
    """What a raw socket received: parsed replies and how it ended."""

    def __init__(self, raw, closed, reset):
        self.raw = raw
        self.closed = closed        # EOF (or RST) seen
        self.reset = reset          # ECONNRESET seen
        self.replies = parse_replies(raw, allow_cut=reset)

    @property
    def codes(self):
        return [c for c, _ in self.replies]

    def __repr__(self):
        return "Stream(closed=%s reset=%s raw=%r)" % (
            self.closed, self.reset, self.raw[-600:])


def parse_replies(raw, allow_cut=False):
    """Split a server byte stream into replies [(code, [texts])], checking
    every line strictly (RFC 5321 §4.2, §4.5.3.1.5). allow_cut: the stream
    may end inside a line (the connection was reset)."""
    replies, cur, code = [], [], None
    pos = 0
    while pos < len(raw):
        lf = raw.find(b"\n", pos)
        if lf < 0:
            assert allow_cut, "reply stream ends inside a line: %r" % (
                raw[pos:pos + 200],)
            break
        line = raw[pos:lf + 1]
        pos = lf + 1
        assert line.endswith(CRLF), "reply line not ended by CRLF: %r" % (
            line[:200],)
        assert len(line) <= 512, "reply line over 512 octets: %r" % (
            line[:200],)
        m = REPLY_LINE.match(line[:-2])
        assert m, "reply line with a bad octet or bad syntax: %r" % (
            line[:300],)
        c = int(m.group(1))
        assert code is None or c == code, "code changes inside a reply: " \
            "%r" % (raw[max(0, pos - 300):pos],)
        code = c
        cur.append((m.group(3) or b"").decode("ascii"))
        if m.group(2) != b"-":
            replies.append((code, cur))
            cur, code = [], None
    if not allow_cut:
        assert not cur, "stream ends inside a multi-line reply"
    return replies


def read_all(sock, timeout=5.0, until_closed=True, want=None):
    """Read until EOF (or until the stream holds `want` replies) or the
    deadline; return a Stream."""
    deadline = time.monotonic() + timeout
    raw, closed, reset = b"", False, False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            continue
        try:
            chunk = sock.recv(1 << 16)
        except ConnectionResetError:
            closed = reset = True
            break
        except (ssl.SSLError, OSError):
            closed = reset = True
            break
        if not chunk:
            closed = True
            break
        raw += chunk
        if want is not None and not until_closed:
            try:
                if len(parse_replies(raw)) >= want:
                    break
            except AssertionError:
                pass
    return Stream(raw, closed, reset)


def send_quietly(sock, data):
    """sendall that tolerates a peer that already closed on us."""
    try:
        sock.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
        return False


def pipeline(c, data, nreplies, timeout=30.0):
    """Send data from a thread (so that a daemon that stops reading cannot
    deadlock us) while reading nreplies replies; return them."""
    err = []

    def writer():
        try:
            c.sock.sendall(data)
        except OSError as e:
            err.append(e)
    c.transcript.append(("C", data[:200] + b"..."))
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    deadline = time.monotonic() + timeout
    out = []
    for _ in range(nreplies):
        out.append(c.read_reply(timeout=max(0.1, deadline -
                                            time.monotonic())))
    t.join(max(0.1, deadline - time.monotonic()))
    assert not t.is_alive(), "writer still blocked"
    assert not err, err
    return out


def assert_clean(reply):
    """One e2elib.Reply obeys textstring on every line."""
    parse_replies(reply.raw)


def to_state(m, state, src="127.0.0.1", helo="client.example"):
    """A session brought to state init/helo/mail/rcpt/data."""
    c = m.connect(src=src)
    if state == "init":
        return c
    c.cmd("EHLO " + helo, 250)
    if state == "helo":
        return c
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    if state == "mail":
        return c
    c.cmd("RCPT TO:<alice@test.example>", 250)
    if state == "rcpt":
        return c
    c.cmd("DATA", 354)
    return c


STATES = ("init", "helo", "mail", "rcpt", "data")

_alive_seq = [0]


def check_alive(m, timeout=10.0, src="127.0.0.1", helo="alive.example",
                sender="alive@sender.example"):
    """The daemon still runs a whole session normally, and every session
    a test opened has been freed (connect and disconnect lines balance).
    With policies on, src/helo/sender must be ones they accept."""
    assert m.running(), "strictmxd died\n" + m.log_tail()
    _alive_seq[0] += 1
    n = _alive_seq[0]
    c = m.connect(src=src, timeout=timeout)
    r = c.cmd("EHLO " + helo, 250)
    assert r.lines[0] == H
    c.cmd("MAIL FROM:<%s>" % sender, 250, "2.1.0 Ok")
    c.cmd("RCPT TO:<postmaster@test.example>", 250, "2.1.5 Ok")
    c.cmd("DATA", 354)
    c.send(b"Subject: alive %d\r\n\r\nstill here\r\n.\r\n" % n)
    c.expect(250, re.compile(r"^2\.0\.0 Ok: queued as \S+$"))
    c.cmd("QUIT", 221)
    c.expect_close()
    got = [d for d in m.maildir("postmaster").new.values()
           if b"Subject: alive %d\n" % n in d]
    assert len(got) == 1 and got[0].endswith(b"\n\nstill here\n"), got

    def balanced():
        log = m.log()
        a = len(re.findall(r"session=\S+ connect client=", log))
        b = len(re.findall(r"session=\S+ disconnect client=", log))
        return a == b and a > 0
    wait_until(balanced, timeout, what="every session freed (connect and "
               "disconnect log lines balance)")


def garbage(rng, n):
    """n-ish hostile octets: SMTP tokens, line-end fragments, NUL, 8-bit,
    long runs, and plain random bytes."""
    tokens = [b"\r", b"\n", b"\r\n", b"\0", b" ", b".", b"\r\n.\r\n",
              b"\n.\n", b"\r.\r", b"MAIL FROM:<", b"RCPT TO:<", b"DATA",
              b"RSET", b"NOOP", b"HELO ", b"EHLO ", b"STARTTLS", b"VRFY ",
              b"BDAT ", b"<", b">", b"@", b":", b"\"", b"\\", b"[", b"]",
              b"SIZE=", b"=", b"\xff", b"\xc3\xa9", b"\xed\xa0\x80",
              b"postmaster", b"alice@test.example", b"%n%s", b"\x1b[2J"]
    out = bytearray()
    while len(out) < n:
        k = rng.random()
        if k < 0.55:
            out += rng.choice(tokens)
        elif k < 0.9:
            out += bytes(rng.randrange(256) for _ in range(rng.randrange(1,
                                                                         16)))
        else:
            out += bytes([rng.randrange(256)]) * rng.randrange(1, 700)
    return bytes(out)


def mx_records(domain, ip, pref=10):
    """DOMAIN MX pref mx.DOMAIN, and its A record."""
    host = "mx." + domain
    return [("MX", domain, pref, host), ("A", host, ip)]


def raw_connect(m, src="127.0.0.1", timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", m.port))
    return s


def rst_close(s):
    """Close with a RST instead of a FIN (SO_LINGER 0)."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    s.close()


# ---------------------------------------------------------------------------
# random byte streams in every state

@pytest.mark.parametrize("state", STATES)
def test_random_streams(mx, state):
    """Seeded hostile streams after each state: every reply well-formed,
    the session ends cleanly after our terminator (QUIT, or 421/554)."""
    m = mx(max_errors=40)
    rng = random.Random("%d-%s" % (SEED, state))
    deadline = time.monotonic() + 8 * SOAK
    for i in range(60 * SOAK):
        if time.monotonic() > deadline:
            break
        c = to_state(m, state, src="127.0.0.%d" % (20 + i % 40))
        blob = garbage(rng, rng.choice((16, 200, 1500, 6000)))
        ok = send_quietly(c.sock, blob)
        if ok:
            send_quietly(c.sock, b"\r\n.\r\nQUIT\r\n")
        s = read_all(c.sock, timeout=6.0)
        assert s.closed, "session %d did not end after QUIT: %r (sent %r)" \
            % (i, s, blob[:300])
        if s.replies and not s.reset:
            assert s.codes[-1] in CLOSING, (s, blob[:300])
        c.sock.close()
    check_alive(m)


def test_random_streams_policies_on(mx, dns):
    """The same with helo_policy and sender_policy enforce (DNS answers,
    some lookups hang): random HELO names and senders park sessions."""
    dns(ZONE + mx_records("sender.example", "127.0.0.10"),
        timeout=["hang.example"])
    m = mx(max_errors=40, helo_policy="enforce", helo_match="any",
           sender_policy="enforce", cbv="no", timeout_command="3s")
    rng = random.Random(SEED + 1)
    deadline = time.monotonic() + 15 * SOAK
    for i in range(12 * SOAK):
        if time.monotonic() > deadline:
            break
        c = m.connect(src="127.0.0.%d" % (30 + i % 40))
        pre = rng.choice([b"EHLO good.client.example\r\n",
                          b"EHLO x.hang.example\r\n", b"HELO [127.0.0.1]\r\n",
                          b""])
        blob = pre + garbage(rng, rng.choice((50, 400, 3000)))
        if send_quietly(c.sock, blob):
            send_quietly(c.sock, b"\r\n.\r\nQUIT\r\n")
        s = read_all(c.sock, timeout=8.0)
        assert s.closed, s
        c.sock.close()
    check_alive(m, src="127.0.0.5", helo="good.client.example")


DIALOGUE = [b"EHLO client.example", b"MAIL FROM:<s@sender.example> SIZE=100 "
            b"BODY=8BITMIME", b"RCPT TO:<alice@test.example>",
            b"RCPT TO:<bob+tag@test.example>", b"DATA", b"Subject: m",
            b"", b"body line", b"..stuffed", b".", b"RSET",
            b"MAIL FROM:<>", b"RCPT TO:<postmaster>", b"DATA", b"x", b".",
            b"VRFY alice", b"HELP", b"EXPN list", b"NOOP", b"QUIT"]
# after these the client waits for the reply (RFC 2920 §3.1), and so do we
GROUP_END = (b"EHLO", b"DATA", b"VRFY", b"EXPN", b"NOOP", b"QUIT", b".")


def mutate(rng, line):
    """One random corruption of a command line (or none)."""
    k = rng.randrange(14)
    b = bytearray(line)
    if k == 0 and b:
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif k == 1:
        b.insert(rng.randrange(len(b) + 1), rng.randrange(256))
    elif k == 2 and b:
        del b[rng.randrange(len(b))]
    elif k == 3:
        b = bytearray(bytes(b).swapcase())
    elif k == 4:
        b += b" " + garbage(rng, rng.randrange(1, 40))
    elif k == 5:
        b = b[:rng.randrange(len(b) + 1)]
    elif k == 6:
        b.insert(rng.randrange(len(b) + 1), 0)
    elif k == 7:
        b += bytes([rng.randrange(256)]) * rng.choice((300, 520, 70000))
    elif k == 8:
        return bytes(b) + rng.choice((b"\n", b"\r", b"\r\r\n", b""))
    return bytes(b) + CRLF


def read_quiet(sock, quiet=0.02, limit=5.0):
    """Read until nothing came for `quiet` seconds (or EOF, or limit)."""
    deadline = time.monotonic() + limit
    raw, closed, reset = b"", False, False
    while time.monotonic() < deadline:
        r, _, _ = select.select([sock], [], [], quiet)
        if not r:
            break
        try:
            chunk = sock.recv(1 << 16)
        except OSError:
            closed = reset = True
            break
        if not chunk:
            closed = True
            break
        raw += chunk
    return raw, closed, reset


def test_mutated_dialogues(mx):
    """A whole valid dialogue (two transactions and the other verbs), sent
    group by group as a pipelining client would, with random corruptions:
    flipped bits, NULs, cut lines, bare CR/LF ends, huge runs, junk. Every
    reply is well-formed and the session always ends."""
    m = mx(max_errors=30, max_recipients=5)
    rng = random.Random(SEED + 9)
    deadline = time.monotonic() + 8 * SOAK
    for i in range(40 * SOAK):
        if time.monotonic() > deadline:
            break
        c = m.connect(src="127.0.0.%d" % (20 + i % 40))
        raw, closed, reset = b"", False, False
        group = b""
        for line in DIALOGUE:
            group += mutate(rng, line) if rng.random() < 0.3 else line + CRLF
            if rng.random() < 0.05:
                group += rng.choice(DIALOGUE) + CRLF     # a stray extra
            if line.split(b" ")[0] in GROUP_END or rng.random() < 0.1:
                if not send_quietly(c.sock, group):
                    break
                group = b""
                got, closed, reset = read_quiet(c.sock)
                raw += got
                if closed:
                    break
        if not closed:
            send_quietly(c.sock, group + b"\r\n.\r\nQUIT\r\n")
            s = read_all(c.sock, timeout=6.0)
            raw += s.raw
            closed, reset = s.closed, s.reset
        assert closed, "session %d did not end: %r" % (i, raw[-300:])
        replies = parse_replies(raw, allow_cut=reset)
        if replies and not reset:
            assert replies[-1][0] in CLOSING, replies[-3:]
        c.sock.close()
    check_alive(m)


# ---------------------------------------------------------------------------
# NUL, bare CR, bare LF

@pytest.mark.parametrize("state", ("init", "helo", "mail", "rcpt"))
def test_nul_and_bare_cr_commands(mx, state):
    m = mx(max_errors=100)
    c = to_state(m, state)
    for line in (b"NOOP\0", b"\0", b"\0NOOP", b"RSET\0", b"QUIT\0",
                 b"MAIL FROM:<a\0@b.example>",
                 b"RCPT TO:<alice@test.example>\0",
                 b"EHLO a\0b.example", b"DATA\0"):
        c.send(line + CRLF)
        r = c.expect(500, "5.5.2 Error: command not recognized")
        assert_clean(r)
    # a CR alone never ends a command line
    c.send(b"RSET\rRSET\r\n")
    c.expect(500, "5.5.2 Error: command not recognized")
    c.send(b"RSET\r")
    time.sleep(0.2)
    assert not select.select([c.sock], [], [], 0)[0], \
        "reply to a line that has no LF yet"
    c.send(b"\n")
    c.expect(250, "2.0.0 Ok")
    # a CR before the CRLF: one stray CR is not stripped as a line end
    c.send(b"NOOP\r\r\n")
    assert_clean(c.read_reply())
    c.cmd("QUIT", 221)
    c.expect_close()
    check_alive(m)


# ---------------------------------------------------------------------------
# long lines

@pytest.mark.parametrize("state", ("init", "helo", "mail", "rcpt"))
def test_long_lines_every_command_state(mx, state):
    m = mx(max_errors=100)
    c = to_state(m, state)
    # 512 octets with CRLF is a command (RFC 5321 §4.5.3.1.4), 513 is not
    c.send(b"NOOP " + b"x" * 505 + CRLF)
    c.expect(250, "2.0.0 Ok")
    c.send(b"NOOP " + b"x" * 506 + CRLF)
    c.expect(500, "5.5.6 Error: line too long")
    c.cmd("NOOP", 250)
    # 100 KB without LF: the 500 comes before the line ends, and only one
    c.send(b"MAIL FROM:<" + b"a" * 102400)
    c.expect(500, "5.5.6 Error: line too long")
    c.send(b"b" * 50000)
    c.send(b">\r\n")
    c.cmd("NOOP", 250, "2.0.0 Ok")
    # a long line that ends with a bare CR and more text
    c.send(b"X" * 1000 + b"\r" + b"Y" * 1000 + CRLF)
    c.expect(500, "5.5.6 Error: line too long")
    # pipelined: long line, then good commands in the same write
    c.send(b"Z" * 5000 + CRLF + b"RSET\r\nRSET\r\n")
    c.expect(500, "5.5.6 Error: line too long")
    c.expect(250)
    c.expect(250)
    c.cmd("QUIT", 221)
    c.expect_close()
    check_alive(m)


def test_long_lines_in_data(mx):
    m = mx()
    c = to_state(m, "data")
    # 100 KB without LF, then the end: the line bound refuses the message
    c.send(b"Subject: long\r\n\r\n" + b"q" * 102400)
    time.sleep(0.1)
    c.send(b"\r\n.\r\n")
    c.expect(554, "5.6.0 Message line longer than 65536 octets")
    c.cmd("RSET", 250)
    c.cmd("QUIT", 221)
    c.expect_close()
    assert m.maildir("alice").count() == 0
    check_alive(m)


def test_long_lines_before_greeting(mx):
    """GREET state (greet_delay): 100 KB of early talk is one offence."""
    m = mx(greet_delay="1s")
    c = m.connect(greeting=False)
    c.send(b"EHLO " + b"e" * 102400)
    c.expect(554, "5.5.0 %s Error: talked before greeting" % H)
    c.expect_close()
    c.close()
    check_alive(m, timeout=10.0)


def test_input_before_a_late_greeting(mx, dns):
    """No greet_delay, but the client's PTR lookup hangs, so the greeting
    waits for it (at most 2 s): what the client sends meanwhile (a command,
    then 100 KB without LF) is held, not read as an offence, and answered
    in order after the greeting."""
    dns(ZONE, timeout=["77.0.0.127.in-addr.arpa"])
    m = mx(max_errors=100)
    c = m.connect(src="127.0.0.77", greeting=False)
    c.send(b"RSET\r\n" + b"j" * 102400)
    t0 = time.monotonic()
    c.greet(220)
    assert time.monotonic() - t0 < 4
    c.expect(250, "2.0.0 Ok")
    c.expect(500, "5.5.6 Error: line too long")
    c.send(b"\r\n")
    c.cmd("EHLO late.example", 250)
    c.cmd("QUIT", 221)
    c.expect_close()
    check_alive(m)


# ---------------------------------------------------------------------------
# pipelining volume

def test_10000_pipelined_rcpts_one_write(mx):
    m = mx()
    c = to_state(m, "helo")
    data = b"MAIL FROM:<s@sender.example>\r\n" + \
        b"RCPT TO:<alice@test.example>\r\n" * 10000 + b"RSET\r\n"
    t0 = time.monotonic()
    rs = pipeline(c, data, 10002)
    assert rs[0].code == 250
    codes = [r.code for r in rs[1:10001]]
    assert codes[:100] == [250] * 100
    assert codes[100:] == [452] * 9900, set(codes[100:])
    assert rs[101].text == "4.5.3 Error: too many recipients"
    assert rs[-1].code == 250
    assert time.monotonic() - t0 < 20
    c.cmd("QUIT", 221)
    c.expect_close()
    check_alive(m)


def test_10000_pipelined_bad_rcpts_hit_error_limit(mx):
    """Relay attempts count as errors: 421 after max_errors, the rest of
    the 10,000 lines is dropped, the daemon does not choke on them."""
    m = mx()
    c = to_state(m, "mail")
    data = b"".join(b"RCPT TO:<u%d@elsewhere.example>\r\n" % i
                    for i in range(10000))
    ok = send_quietly(c.sock, data)
    s = read_all(c.sock, timeout=10)
    assert s.closed
    if not s.reset:
        assert s.codes == [554] * 10 + [421], (ok, s.codes[:20])
    c.sock.close()
    check_alive(m)


def test_thousands_of_rsets(mx):
    m = mx()
    c = m.connect()
    rs = pipeline(c, b"RSET\r\n" * 3000, 3000)      # before HELO too
    assert all(r.code == 250 and r.text == "2.0.0 Ok" for r in rs)
    c.cmd("EHLO client.example", 250)
    rs = pipeline(c, b"MAIL FROM:<s@sender.example>\r\nRSET\r\n" * 2000,
                  4000)
    assert [r.code for r in rs] == [250] * 4000
    c.cmd("QUIT", 221)
    c.expect_close()
    check_alive(m)


# ---------------------------------------------------------------------------
# MAIL parameters

def test_mail_with_50_parameters(mx):
    m = mx(max_errors=100)
    c = to_state(m, "helo")
    params = " ".join("P%d=v%d" % (i, i) for i in range(50))
    line = "MAIL FROM:<s@sender.example> " + params
    assert len(line) < 510
    r = c.cmd(line, 555)
    assert r.text.startswith("5.5.4 Unsupported option: ")
    assert_clean(r)
    # 8 known parameters is the most a MAIL may carry
    r = c.cmd("MAIL FROM:<s@sender.example> " + " ".join(["BODY=7BIT"] * 9),
              555)
    c.cmd("MAIL FROM:<s@sender.example> SIZE=10 BODY=8BITMIME", 250)
    c.cmd("RSET", 250)
    c.cmd("QUIT", 221)
    check_alive(m)


def test_mail_parameter_values_1kb(mx):
    m = mx(max_errors=100)
    c = to_state(m, "helo")
    # a 1 KB value makes the line too long (RFC 5321 §4.5.3.1.4)
    c.cmd("MAIL FROM:<s@sender.example> X=" + "v" * 1024, 500,
          "5.5.6 Error: line too long")
    # values at the size of the parser's buffer (127 / 128 octets)
    for n in (126, 127, 128, 200):
        r = c.cmd("MAIL FROM:<s@sender.example> X-FOO=" + "v" * n, 555)
        assert_clean(r)
        r = c.cmd("MAIL FROM:<s@sender.example> BODY=" + "8" * n, None)
        assert r.code in (501, 555), r
        r = c.cmd("MAIL FROM:<s@sender.example> SIZE=" + "9" * n, None)
        assert r.code in (501, 552, 555), r
        assert_clean(r)
    # keyword at the buffer size (31 / 32 octets)
    for n in (31, 32, 60):
        r = c.cmd("MAIL FROM:<s@sender.example> " + "K" * n + "=1", 555)
        assert_clean(r)
    c.cmd("MAIL FROM:<s@sender.example> SIZE=" + "0" * 100, 250)
    c.cmd("QUIT", 221)
    check_alive(m)


def test_reply_never_echoes_control_octets(mx):
    """Parameters the server quotes back must not carry control octets,
    bare CRs or 8-bit text into the reply line (RFC 5321 §4.2 textstring):
    a bare CR in a reply is a reply-splitting primitive for clients that
    treat CR as a line end, and ESC sequences reach terminals and logs."""
    m = mx(max_errors=100)
    c = to_state(m, "helo")
    bad = [b"X=\x1b[31mred\x07", b"X=a\rb", b"X=\xff\xfe", b"\x1b", b"X=\x7f",
           b"X=\t"]
    for p in bad:
        c.send(b"MAIL FROM:<s@sender.example> " + p + CRLF)
        r = c.read_reply()
        assert r.code in (501, 555), r
        assert_clean(r)
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    for p in bad:
        c.send(b"RCPT TO:<alice@test.example> " + p + CRLF)
        r = c.read_reply()
        assert r.code in (501, 555), r
        assert_clean(r)
    c.cmd("QUIT", 221)
    check_alive(m)


# ---------------------------------------------------------------------------
# addresses

SPECIALS = "!#$%&'*+-/=?^_`{|}~"
NOT_ATEXT = "(),:;<>@[\\]\" "


def test_addresses_with_every_special_character(mx):
    m = mx(max_errors=1000, max_recipients=1000)
    c = to_state(m, "mail")
    # every atext special in a dot-atom: accepted (catch-all domain)
    for ch in SPECIALS:
        r = c.cmd("RCPT TO:<a%sb@other.example>" % ch, 250)
        r = c.cmd("RCPT TO:<%s@other.example>" % ch, 250)
    # every other printable specials outside quotes: refused, clean reply
    for ch in NOT_ATEXT:
        r = c.cmd("RCPT TO:<a%sb@other.example>" % ch, None)
        assert r.code in (501, 553), (ch, r)
        assert_clean(r)
    # ...and inside quotes accepted (quoted-pair for " and \)
    for ch in NOT_ATEXT:
        q = "\\" + ch if ch in "\"\\" else ch
        c.cmd('RCPT TO:<"a%sb"@other.example>' % q, 250)
    # every control octet, DEL and stray 8-bit octet: refused, inside or
    # outside quotes
    for o in list(range(1, 32)) + [127, 0x80, 0xc0, 0xff]:
        if o in (10, 13):
            continue
        for tmpl in (b"RCPT TO:<a%sb@other.example>", b'RCPT TO:<"a%sb"'
                     b"@other.example>", b"RCPT TO:<ab@oth%ser.example>"):
            c.send(tmpl % bytes([o]) + CRLF)
            r = c.read_reply()
            assert r.code in (501, 553), (o, tmpl, r)
            assert_clean(r)
    # dots
    for a in (".a@other.example", "a.@other.example", "a..b@other.example",
              "a@.other.example", "a@other..example", "a@other.example.."):
        r = c.cmd("RCPT TO:<%s>" % a, None)
        assert r.code in (501, 553), (a, r)
    c.cmd("QUIT", 221)
    check_alive(m)


def test_very_odd_quoted_address(mx):
    m = mx(max_errors=100)
    c = to_state(m, "mail")
    r = c.cmd('RCPT TO:<"very\\"odd"@test.example>', 550)
    assert r.text.startswith("5.1.1 <") and \
        r.text.endswith(">: Recipient address rejected: User unknown"), r
    assert_clean(r)
    c.cmd('RCPT TO:<"very\\"odd"@other.example>', 250)
    c.cmd("RCPT TO:<\"\\\\\"@other.example>", 250)       # "\\"
    r = c.cmd('RCPT TO:<""@other.example>', 553)
    r = c.cmd('RCPT TO:<"unterminated@other.example>', None)
    assert r.code in (501, 553)
    r = c.cmd('RCPT TO:<"a\\', None)
    assert r.code in (501, 553)
    c.cmd("DATA", 354)
    c.send(b"Subject: odd\r\n\r\nodd\r\n.\r\n")
    c.expect(250)
    c.cmd("QUIT", 221)
    data = list(m.maildir("catchall").new.values())
    assert len(data) == 1
    head = data[0].split(b"\n\n", 1)[0]
    # no recipient in "for" (two of them), nothing unprintable in headers
    assert all(0x20 <= b < 0x7f or b in (9, 10) for b in head), head
    check_alive(m)


def test_address_length_limits(mx):
    m = mx(max_errors=100)
    c = to_state(m, "mail")
    c.cmd("RCPT TO:<%s@other.example>" % ("l" * 64), 250)
    c.cmd("RCPT TO:<%s@other.example>" % ("l" * 65), 553)
    label = "d" * 63
    dom = ".".join([label] * 3) + ".other.example"      # not ours: 554
    r = c.cmd("RCPT TO:<x@%s>" % dom, None)
    assert r.code == 554, r
    c.cmd("RCPT TO:<x@%s.other.example>" % ("d" * 64), 553)
    # path over 256 octets
    dom = ".".join([label] * 3) + "." + "e" * 50 + ".example"
    r = c.cmd("RCPT TO:<%s@%s>" % ("l" * 60, dom), 553)
    # MAIL with the sender at every limit
    c.cmd("RSET", 250)
    c.cmd("MAIL FROM:<%s@sender.example>" % ("l" * 64), 250)
    c.cmd("RSET", 250)
    c.cmd("MAIL FROM:<%s@sender.example>" % ("l" * 65), 553)
    c.cmd("QUIT", 221)
    check_alive(m)


# ---------------------------------------------------------------------------
# DATA content

def test_binary_data_every_octet(mx):
    """Every octet but CR and LF, in CRLF lines, arrives unchanged."""
    m = mx()
    c = to_state(m, "data")
    body = b"".join(bytes([o]) * 3 + b"|" + bytes(range(256)).replace(
        b"\r", b"").replace(b"\n", b"") + CRLF for o in range(256)
        if o not in (10, 13))
    c.send(b"Subject: binary\r\n\r\n" + body + b".\r\n")
    c.expect(250)
    c.cmd("QUIT", 221)
    (_name, data), = m.maildir("alice").new.items()
    text = data.split(b"\n\n", 1)[1]
    want = body.replace(CRLF, b"\n")
    want = b"\n".join(ln[1:] if ln.startswith(b".") else ln
                      for ln in want.split(b"\n"))
    assert text == want
    check_alive(m)


def test_data_line_65536_and_65537(mx):
    m = mx()
    for n, ok in ((65536, True), (65537, False)):
        c = to_state(m, "data")
        c.send(b"Subject: l\r\n\r\n" + b"a" * n + b"\r\n" +
               b"." + b"b" * 65536 + b"\r\n.\r\n")  # stuffing dot not counted
        if ok:
            c.expect(250)
        else:
            c.expect(554, "5.6.0 Message line longer than 65536 octets")
        c.cmd("QUIT", 221)
        c.close()
    (_n, data), = m.maildir("alice").new.items()
    assert data.endswith(b"\n\n" + b"a" * 65536 + b"\n" + b"b" * 65536 +
                         b"\n")
    check_alive(m)


def test_smuggling_terminators_in_binary(mx):
    """Random fake terminators in a message never end DATA; only the real
    one does, and the commands after it are answered."""
    m = mx(bare_newline="normalize")
    rng = random.Random(SEED + 2)
    fakes = [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r.\r", b".\r\n",
             b"\r\n.\r", b"\r\n .\r\n", b"\r\n.\x00\r\n", b"\r\n..\r\n"]
    c = to_state(m, "data")
    body = b"Subject: s\r\n\r\nx" + b"".join(
        rng.choice(fakes) + b"MAIL FROM:<evil@x.example>\r\n" +
        b"RCPT TO:<bob@test.example>\r\nDATA\r\nsmuggled"
        for _ in range(30))
    c.send(body + b"\r\n.\r\nRSET\r\n")
    c.expect(250)
    c.expect(250)
    c.cmd("QUIT", 221)
    assert m.maildir("bob").count() == 0
    assert m.maildir("alice").count() == 1
    check_alive(m)


# ---------------------------------------------------------------------------
# connection storms

MOMENTS = ("connect", "greeting", "ehlo-sent", "ehlo-partial", "mail",
           "rcpt", "data-sent", "mid-data", "after-dot", "quit-sent")


def _storm_client(m, i, rng, results, body):
    moment = MOMENTS[i % len(MOMENTS)]
    src = "127.0.0.%d" % (100 + i % 50)
    how = rng.choice(("fin", "rst", "shut"))
    try:
        c = e2elib.Client("127.0.0.1", m.port, src, timeout=10.0)
        time.sleep(rng.random() * 0.3)
        steps = MOMENTS.index(moment)
        if steps == 1:
            c.sock.recv(5)
        if steps >= 2:
            c.greet(220)
            c.line("EHLO storm%d.example" % i)
        if steps == 3:
            c.sock.recv(10)
        if steps >= 4:
            c.expect(250)
            c.line("MAIL FROM:<s%d@sender.example>" % i)
        if steps >= 5:
            c.line("RCPT TO:<alice@test.example>")
            c.expect(250)
        if steps >= 6:
            c.expect(250)
            c.line("DATA")
        if steps >= 7:
            c.expect(354)
            c.send(b"Subject: storm %d\r\n\r\n" % i +
                   body[:rng.randrange(len(body))])
        if steps >= 8:
            c.send(body + b".\r\n")
        if steps >= 9:
            c.expect(250)
            c.line("QUIT")
        if how == "rst":
            rst_close(c.sock)
        elif how == "shut":
            c.sock.shutdown(socket.SHUT_RDWR)
            c.sock.close()
        else:
            c.sock.close()
        results.append((i, moment, "ok"))
    except Exception as e:          # reported by the test below
        results.append((i, moment, repr(e)))


def test_storm_200_connections_slammed(mx):
    m = mx(max_clients=1000, max_clients_per_ip=100)
    rng = random.Random(SEED + 3)
    body = b"".join(b"storm line %04d\r\n" % k for k in range(400))
    results = []
    threads = []
    for i in range(200):
        r = random.Random(rng.random())
        t = threading.Thread(target=_storm_client,
                             args=(m, i, r, results, body), daemon=True)
        threads.append(t)
    for k, t in enumerate(threads):
        t.start()
        if k == 100:
            m.hup(wait=False)       # a reload in the middle of it all
    deadline = time.monotonic() + 30
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "storm clients hung"
    bad = [r for r in results if r[2] != "ok"]
    assert not bad, bad[:10]
    check_alive(m, timeout=15)
    # whatever got delivered is whole: a cut message never lands
    want_tail = b"".join(b"storm line %04d\n" % k for k in range(400))
    for name, data in m.maildir("alice").new.items():
        assert data.endswith(want_tail), (name, data[-200:])


def test_sighup_barrage_during_traffic(mx):
    """Thirty SIGHUPs in a row while sessions pipeline and deliver: every
    session finishes under its config, the daemon keeps serving."""
    m = mx()
    stop = threading.Event()
    errors = []

    def traffic(k):
        n = 0
        while not stop.is_set() and n < 200:
            n += 1
            try:
                c = m.connect(src="127.0.0.%d" % (100 + k))
                c.cmd("EHLO hup%d.example" % k, 250)
                rs = pipeline(c, b"MAIL FROM:<h@sender.example>\r\n"
                              b"RCPT TO:<bob@test.example>\r\nRSET\r\n" * 20,
                              60, timeout=10)
                assert [r.code for r in rs] == [250] * 60
                c.cmd("QUIT", 221)
                c.close()
            except Exception as e:
                errors.append(repr(e))
                return
    ts = [threading.Thread(target=traffic, args=(k,), daemon=True)
          for k in range(4)]
    for t in ts:
        t.start()
    for _ in range(30):
        m.signal(signal.SIGHUP)
        time.sleep(0.02)
        m.notifications()       # read them, as systemd would
    m.hup()                     # and one that we wait for to the end
    stop.set()
    for t in ts:
        t.join(20)
    assert not errors, errors[:3]
    assert not any(t.is_alive() for t in ts)
    check_alive(m)


def test_stalled_service_manager_does_not_freeze(mx):
    """sd_notify must never block the event loop: when the service manager
    does not read its notify socket (busy, or re-executing), a SIGHUP's
    RELOADING=1/READY=1 datagrams fill the socket's queue (net.unix.
    max_dgram_qlen) and a blocking sendto() would stop every session.
    libsystemd's sd_notify sends with MSG_DONTWAIT for this reason."""
    m = mx()
    for _ in range(20):         # 40 datagrams nobody reads
        m.signal(signal.SIGHUP)
        time.sleep(0.02)
    time.sleep(0.3)
    try:
        c = m.connect(timeout=3)
        c.cmd("EHLO stalled.example", 250, timeout=3)
        c.cmd("QUIT", 221, timeout=3)
    finally:
        # drain, so that SIGTERM's STOPPING=1 can go out at teardown
        for _ in range(50):
            m.notifications()
            time.sleep(0.02)
    check_alive(m)


def test_storm_mid_helo_dns(mx, dns):
    """Sessions parked on HELO lookups that never answer, slammed shut."""
    dns(ZONE, timeout=["hang.example"])
    m = mx(helo_policy="enforce", helo_match="a", max_clients_per_ip=100)
    rng = random.Random(SEED + 4)
    socks = []
    for i in range(60):
        s = raw_connect(m, src="127.0.0.%d" % (100 + i % 30))
        read_all(s, timeout=5, until_closed=False, want=1)
        s.sendall(b"EHLO c%d.hang.example\r\n" % i)
        socks.append(s)
    time.sleep(0.2)
    for i, s in enumerate(socks):
        # more input behind the parked EHLO: buffered, up to the bound
        if i % 3 == 0:
            send_quietly(s, b"MAIL FROM:<x@y.example>\r\n" * 50)
        elif i % 3 == 1:
            s.setblocking(False)
            try:
                s.send(b"RSET\r\n" * 40000)
            except OSError:
                pass
    rng.shuffle(socks)
    for k, s in enumerate(socks):
        time.sleep(rng.random() * 0.02)
        rst_close(s) if k % 2 else s.close()
    check_alive(m, timeout=15, src="127.0.0.5", helo="good.client.example")


def test_storm_mid_cbv_remote_hangs(mx, dns, remote_mx):
    """sender_policy enforce with CBV: the sender domain's MX accepts the
    connection and then never answers at RCPT (or at the greeting). 60
    clients park on that CBV and are slammed shut at random moments; one
    patient client gets the tempfail when cbv_timeout runs out; SIGTERM
    with probes still hanging answers 421 to the parked and exits 0."""
    dns(mx_records("hangrcpt.example", "127.0.0.10") +
        mx_records("hanggreet.example", "127.0.0.11"))
    remote_mx("127.0.0.10", {"rcpt": "hang"})
    remote_mx("127.0.0.11", {"greeting": "hang"})
    m = mx(sender_policy="enforce", cbv="yes", cbv_timeout="4s",
           cbv_max_per_domain=3, cbv_max_concurrent=10,
           max_clients_per_ip=100)
    rng = random.Random(SEED + 5)

    def parked(src, sender):
        c = m.connect(src=src)
        c.cmd("EHLO parked.example", 250)
        c.send("MAIL FROM:<%s>\r\nRCPT TO:<alice@test.example>\r\n"
               % sender)
        return c
    patient = parked("127.0.0.99", "patient@hangrcpt.example")
    t0 = time.monotonic()
    clients = []
    for i in range(60):
        dom = "hangrcpt.example" if i % 2 else "hanggreet.example"
        clients.append(parked("127.0.0.%d" % (100 + i % 30),
                              "u%d@%s" % (i, dom)))
    rng.shuffle(clients)
    for k, c in enumerate(clients):
        time.sleep(rng.random() * 0.03)
        if k % 3 == 0:
            rst_close(c.sock)
        elif k % 3 == 1:
            c.sock.shutdown(socket.SHUT_WR)
            c.sock.close()
        else:
            c.sock.close()
    patient.expect(250, "2.1.0 Ok", timeout=15)
    r = patient.read_reply(timeout=15)
    assert r.code == 450 and r.text.startswith("4.1.7 <patient@"), r
    assert 2.0 < time.monotonic() - t0 < 14
    patient.cmd("QUIT", 221)
    # the null sender needs no CBV
    c = m.connect()
    c.cmd("EHLO ok.example", 250)
    c.cmd("MAIL FROM:<>", 250)
    c.cmd("RCPT TO:<alice@test.example>", 250)
    c.cmd("QUIT", 221)
    check_alive(m, timeout=20, sender="")
    # SIGTERM while sessions are parked on probes that hang
    last = [parked("127.0.0.%d" % (150 + i), "late%d@hanggreet.example" % i)
            for i in range(5)]
    time.sleep(0.3)
    m.signal(signal.SIGTERM)
    for c in last:
        c.expect(250, "2.1.0 Ok")
        c.expect(421, "4.3.2 %s Service shutting down" % H)
        c.expect_close()
    assert m.wait(10) == 0, m.log_tail()


# ---------------------------------------------------------------------------
# policies on: hostile HELO names and sender domains

HOSTILE_HELOS = [b"a" * 255, b"a" * 256, (b"x" * 63 + b".") * 4 + b"example",
                 b"[127.0.0.1", b"[127.0.0.1]]", b"[IPv6:::1]", b"[IPv6:zz]",
                 b"[999.1.1.1]", b"[]", b"[", b"-a.example", b"a-.example",
                 b"a..example", b".", b"..", b"example.", b"\xc3\xa9.example",
                 b"\xff\xfe", b"a\x1bb.example", b"a\rb.example", b"a\tb",
                 b"%s%n.example", b"mx.test.example", b"MX.TEST.EXAMPLE",
                 b"[127.0.0.5]", b"good.client.example extra words",
                 b"localhost", b"1.2.3.4",
                 b"xn--e1afmkfd.example", b"_srv.example"]


def test_helo_policy_hostile_names(mx, dns):
    """helo_policy enforce: every odd HELO/EHLO name gets a well-formed
    answer (the name is echoed only made printable), none crashes the
    lookups, and a name whose DNS hangs gets 450 in time."""
    dns(ZONE, timeout=["hang.example"])
    m = mx(helo_policy="enforce", helo_match="any", max_errors=1000)
    c = m.connect(src="127.0.0.5")
    for name in HOSTILE_HELOS:
        for verb in (b"EHLO ", b"HELO "):
            c.send(verb + name + CRLF)
            r = c.read_reply(timeout=15)
            assert r.code in (250, 501, 550), (name, r)
            assert_clean(r)
    # a name whose lookup never returns: 450 4.7.1 (one try: it waits
    # for the resolver's timeout)
    r = c.cmd("EHLO x\x1b.hang.example", None, timeout=20)
    assert r.code in (450, 501), r
    assert_clean(r)
    r = c.cmd("EHLO x.hang.example", 450, timeout=20)
    assert r.text == "4.7.1 <x.hang.example>: Helo command rejected: " \
        "cannot verify helo name (DNS timeout)", r
    c.cmd("QUIT", 221)
    check_alive(m, src="127.0.0.5", helo="good.client.example")


def test_sender_policy_hostile_domains(mx, dns):
    """sender_policy enforce (no CBV): senders whose domains are literals,
    at the length limits, UTF-8, single labels or whose DNS hangs all get
    a clean answer, and the session goes on."""
    dns(ZONE + mx_records("sender.example", "127.0.0.10"),
        timeout=["hang.example"])
    m = mx(sender_policy="enforce", cbv="no", max_errors=1000,
           cbv_timeout="3s")
    long_dom = ".".join(["d" * 63] * 3) + "." + "e" * 55 + ".example"
    assert len(long_dom) == 255
    senders = ["a@[127.0.0.1]", "a@[IPv6:::1]", "a@localhost", "a@example",
               "a@" + long_dom, "a@" + long_dom[:253],
               "a@" + ".".join(["x"] * 120), "a@x.hang.example",
               "a@test.example", "postmaster@test.example",
               "\"a b\"@sender.example",
               "a@sender.example", "a@nonexistent.example",
               "a@xn--e1afmkfd.example", "a@1.2.3.4"]
    c = m.connect()
    c.cmd("EHLO client.example", 250)
    for snd in senders:
        c.send("MAIL FROM:<%s>\r\nRCPT TO:<alice@test.example>\r\n" % snd)
        r1 = c.read_reply(timeout=15)
        assert_clean(r1)
        if r1.code == 250:
            r2 = c.read_reply(timeout=15)
            assert_clean(r2)
            assert r2.code in (250, 450, 550, 553, 554), (snd, r2)
        else:
            assert r1.code in (501, 553), (snd, r1)
            r2 = c.read_reply(timeout=15)
            assert r2.code == 503, (snd, r2)
        c.cmd("RSET", 250)
    # UTF-8 domain needs SMTPUTF8
    c.send("MAIL FROM:<a@\u00e9\u00e9.example> SMTPUTF8\r\n"
           "RCPT TO:<alice@test.example>\r\n")
    r1 = c.read_reply(timeout=15)
    assert_clean(r1)
    r2 = c.read_reply(timeout=15)
    assert_clean(r2)
    c.cmd("QUIT", 221)
    check_alive(m, sender="a@sender.example")


# ---------------------------------------------------------------------------
# a hostile remote MX answering our call-back probes

class HostileMX:
    """A TCP server on ip:25 that answers each probe connection with the
    script current at accept time: script[0] is sent at once, script[k]
    after the k-th line received. An item is bytes, 'rst' (reset the
    connection) or ('sleep', seconds, bytes)."""

    def __init__(self, ip):
        self.script = [b"220 ok\r\n"]
        self.stopping = threading.Event()
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((ip, 25))
        self.lsock.listen(64)
        self.conns = []
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    def _accept(self):
        while not self.stopping.is_set():
            r, _, _ = select.select([self.lsock], [], [], 0.05)
            if not r:
                continue
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,
                             list(self.script)), daemon=True).start()

    def _do(self, conn, item):
        if item == "rst":
            rst_close(conn)
            return False
        if isinstance(item, tuple):
            if self.stopping.wait(item[1]):
                return False
            item = item[2]
        conn.sendall(item)
        return True

    def _serve(self, conn, script):
        try:
            conn.settimeout(10)
            if not self._do(conn, script.pop(0)):
                return
            f = conn.makefile("rb")
            while script and not self.stopping.is_set():
                if not f.readline(8192):
                    return
                if not self._do(conn, script.pop(0)):
                    return
            while not self.stopping.is_set() and conn.recv(4096):
                pass
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def stop(self):
        self.stopping.set()
        self.lsock.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.t.join(2)


def _hostile_scripts(rng):
    ok = [b"220 ok\r\n", b"250 ok\r\n", b"250-h\r\n250 RFC3821\r\n",
          b"250 ok\r\n", b"250 ok\r\n", b"221 bye\r\n"]

    def at(stage, item, base=ok):
        s = list(base)
        s[stage] = item
        return s
    G, NOOP, EHLO, MAIL, RCPT = range(5)
    return [
        # (name, script, codes the client may get at RCPT)
        ("bare-lf", [x.replace(b"\r\n", b"\n") for x in ok], (250,)),
        ("5000-line greeting", at(G, b"220-x\r\n" * 5000 + b"220 ok\r\n"),
         (450,)),
        ("100KB greeting line", at(G, b"220 " + b"g" * 102400), (450,)),
        ("NUL greeting", at(G, b"220 \0\0\0\r\n"), (250, 450)),
        ("300 EHLO lines of 511", at(EHLO, (b"250-" + b"e" * 505 + b"\r\n")
                                    * 300 + b"250 RFC3821\r\n"), (250, 450)),
        ("EHLO line of 513", at(EHLO, b"250 " + b"e" * 509 + b"\r\n"),
         (450,)),
        ("hostile 550 text", at(RCPT, b"550 5.1.1 \x1b[2J\x07%s%n\xff\xfe "
                               b"<script>\r\n"), (550,)),
        ("code changes", at(RCPT, b"550-a\r\n250 b\r\n"), (450,)),
        ("unsolicited replies", at(G, b"220 ok\r\n" + b"250 x\r\n" * 100),
         (250, 450, 550)),
        ("codes out of range", at(MAIL, b"600 x\r\n"), (450,)),
        ("code 2500", at(RCPT, b"2500 x\r\n"), (450,)),
        ("short code", at(RCPT, b"25 x\r\n"), (450,)),
        ("rst at rcpt", at(RCPT, "rst"), (450,)),
        # CBV_REPLY_MAX: a whole reply of 4096 octets is read, 4097 not
        ("reply of 4096", at(RCPT, (b"250-" + b"r" * 500 + b"\r\n") * 8
                             + b"250 " + b"r" * 42 + b"\r\n"), (250,)),
        ("reply of 4097", at(RCPT, (b"250-" + b"r" * 500 + b"\r\n") * 8
                             + b"250 " + b"r" * 43 + b"\r\n"), (450,)),
        ("random", [bytes(rng.randrange(256) for _ in range(rng.randrange(
            1, 3000))) for _ in range(6)], (250, 450, 550)),
        ("random lines", [b"".join(b"%d%s%s\r\n" % (rng.randrange(150, 650),
                                   rng.choice((b" ", b"-", b"", b"\t")),
                                   bytes(rng.randrange(256) for _ in
                                         range(rng.randrange(0, 80))))
                                   for _ in range(rng.randrange(1, 5)))
                          for _ in range(6)], (250, 450, 550)),
        ("slow then 250", [("sleep", 0.5, b"220 ok\r\n")] + ok[1:],
         (250,)),
    ]


def test_hostile_remote_mx_replies(mx, dns):
    """sender_policy enforce, CBV on: the sender domain's MX (untrusted)
    answers our probe with oversized, malformed, binary or random replies.
    The client's RCPT gets a clean reply, never our crash."""
    rng = random.Random(SEED + 8)
    scripts = _hostile_scripts(rng)
    recs = []
    for i in range(len(scripts)):
        recs.append(("MX", "hostile%d.example" % i, 10, "mx.hostile.example"))
    dns(recs + [("A", "mx.hostile.example", "127.0.0.10")])
    remote = HostileMX("127.0.0.10")
    try:
        m = mx(sender_policy="enforce", cbv="yes", cbv_timeout="3s",
               cbv_noop="yes", max_errors=1000)
        c = m.connect()
        c.cmd("EHLO client.example", 250)
        for i, (name, script, codes) in enumerate(scripts):
            remote.script = script
            c.cmd("MAIL FROM:<u%d@hostile%d.example>" % (i, i), 250)
            r = c.cmd("RCPT TO:<alice@test.example>", None, timeout=15)
            assert_clean(r)
            assert r.code in codes, (name, r)
            c.cmd("RSET", 250)
        c.cmd("QUIT", 221)
        check_alive(m, sender="")
    finally:
        remote.stop()


# ---------------------------------------------------------------------------
# resource exhaustion at accept()

def _cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_over_max_clients_refused_cleanly(mx):
    m = mx(max_clients=40, max_clients_per_ip=1000)
    held = [m.connect(src="127.0.0.%d" % (100 + i % 20)) for i in range(40)]
    for i in range(60):
        c = m.connect(src="127.0.0.%d" % (150 + i % 20), greeting=False)
        c.expect(421, "4.7.0 %s Error: too many connections" % H)
        c.expect_close()
        c.close()
    for c in held:
        rst_close(c.sock)
    check_alive(m)


def test_out_of_file_descriptors_no_busy_loop(mx):
    """accept() failing with EMFILE (descriptor limit lowered under the
    running daemon with prlimit): the daemon must back off, not spin on
    the still-readable listening socket and flood its log, and must serve
    again once descriptors are free."""
    m = mx(max_clients_per_ip=1000)
    base = len(os.listdir("/proc/%d/fd" % m.pid))
    with open("/proc/%d/limits" % m.pid) as f:
        soft, hard = [ln.split()[3:5] for ln in f
                      if ln.startswith("Max open files")][0]
    # only the soft limit moves: putting it back needs no privilege
    r = subprocess.run(["prlimit", "--pid", str(m.pid),
                        "--nofile=%d:%s" % (base + 8, hard)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("prlimit: " + r.stderr)
    socks = []
    try:
        for i in range(30):
            socks.append(raw_connect(m, src="127.0.0.%d" % (100 + i)))
        time.sleep(0.3)
        size0, cpu0, t0 = os.path.getsize(m.log_path), \
            _cpu_seconds(m.pid), time.monotonic()
        time.sleep(0.5)
        cpu = _cpu_seconds(m.pid) - cpu0
        grew = os.path.getsize(m.log_path) - size0
        span = time.monotonic() - t0
    finally:
        for s in socks:
            rst_close(s)
        subprocess.run(["prlimit", "--pid", str(m.pid),
                        "--nofile=%s:%s" % (soft, hard)], capture_output=True)
    assert cpu < 0.5 * span and grew < 64 * 1024, \
        "while out of descriptors the daemon used %.2fs CPU in %.2fs and " \
        "wrote %d log bytes" % (cpu, span, grew)
    check_alive(m)


# ---------------------------------------------------------------------------
# half-closed sockets

HALF_CASES = [
    ("init", b"NOOP\r\n", [250]),
    ("init", b"EHLO half.example\r\n", [250]),
    ("init", b"QUIT\r\n", [221]),
    ("helo", b"RSET\r\nRSET\r\nRSET\r\n", [250, 250, 250]),
    ("helo", b"MAIL FROM:<a@b.example>\r\nRCPT TO:<alice@test.example>\r\n",
     [250, 250]),
    ("rcpt", b"DATA\r\n", [354]),
    ("data", b"Subject: h\r\n\r\nhalf\r\n.\r\n", [250]),
    ("data", b"Subject: h\r\n\r\nhalf\r\n.\r\nQUIT\r\n", [250, 221]),
    ("helo", b"BOGUS\r\n", [500]),
]


@pytest.mark.parametrize("state,data,want", HALF_CASES)
def test_half_closed_socket_gets_its_replies(mx, state, data, want):
    """shutdown(SHUT_WR) right after the command: a TCP half-close is not
    an abort, the replies must still arrive (as with Postfix)."""
    m = mx()
    c = to_state(m, state)
    c.sock.sendall(data)
    c.sock.shutdown(socket.SHUT_WR)
    s = read_all(c.sock, timeout=5)
    assert s.codes[:len(want)] == want, s
    assert s.closed
    c.sock.close()
    if b".\r\n" in data:
        assert m.maildir("alice").count() == 1
    check_alive(m)


# A FIN while a session waits on DNS or a CBV probe ends the session at
# once and cancels its lookups (session.c, session_event_cb): a half-close
# cannot be told from a close, and a client gone mid-lookup must not hold
# a max_clients_per_ip slot until the lookup times out. test_helo.py's
# test_disconnect_noticed_during_lookup asserts that side.

def test_client_that_never_reads_is_bounded(mx):
    """Pipelined RSETs (which may pipeline freely) from a client that never
    reads a reply: the daemon must stop reading once its output backs up,
    not buffer replies without bound (RFC 2920 §3.1 lets it)."""
    m = mx()
    c = to_state(m, "helo")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    time.sleep(0.2)
    rss0 = m.vm("VmRSS")
    s = c.sock
    s.setblocking(False)
    chunk = b"RSET\r\n" * 10000
    sent, t0, last = 0, time.monotonic(), time.monotonic()
    while sent < 50 * 2 ** 20 and time.monotonic() - t0 < 15:
        _, w, _ = select.select([], [s], [], 0.2)
        if not w:
            if time.monotonic() - last > 2:
                break           # the daemon stopped reading: good
            continue
        try:
            sent += s.send(chunk)
            last = time.monotonic()
        except BlockingIOError:
            pass
    time.sleep(0.5)
    grown = m.vm("VmRSS") - rss0
    rst_close(s)
    assert grown < 32 * 1024, "VmRSS grew by %d KiB after %.1f MB of " \
        "pipelined RSET that were never read" % (grown, sent / 2.0 ** 20)
    check_alive(m)


# ---------------------------------------------------------------------------
# STARTTLS

@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "cert.pem", d / "key.pem"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-subj", "/CN=" + H, "-days", "1",
                        "-keyout", str(key), "-out", str(crt)],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        pytest.skip("openssl cannot make a certificate: " + r.stderr)
    return str(crt), str(key)


def tls_mx(mx, cert, **conf):
    return mx(tls_certificate=cert[0], tls_key=cert[1], **conf)


def client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def starttls(c):
    """STARTTLS on a Client in the helo state; switch it to TLS."""
    c.cmd("STARTTLS", 220, "2.0.0 Ready to start TLS")
    c.sock = client_ctx().wrap_socket(c.sock, server_hostname=H)
    return c


def test_swaks_tls_delivery(mx, cert, tmp_path):
    """A real client over STARTTLS: the message lands, marked ESMTPS.
    (swaks' exit status is checked by test_tls_closing_replies_arrive's
    subject, the 221 after QUIT, so it is not asserted here.)"""
    m = tls_mx(mx, cert)
    r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % m.port,
                        "--tls", "--from", "sw@sender.example",
                        "--to", "alice@test.example", "--helo",
                        "swaks.example", "--body", "over tls"],
                       capture_output=True, text=True, timeout=30)
    assert "=== TLS started" in r.stdout, r.stdout + r.stderr
    assert "250 2.0.0 Ok: queued as" in r.stdout, r.stdout + r.stderr
    (_n, data), = m.maildir("alice").new.items()
    assert b" with ESMTPS id " in data
    assert data.endswith(b"\n\nover tls\n\n\n") or \
        data.endswith(b"\nover tls\n"), data[-100:]
    check_alive(m)


@pytest.mark.parametrize("how", ["quit", "errors", "pipelining", "swaks"])
def test_tls_closing_replies_arrive(mx, cert, how):
    """A reply that ends the session (221 after QUIT, 421 too many errors,
    554 pipelining) must reach a TLS client before the close, as it does in
    clear text: "drained" must mean written to the socket, not merely
    handed to the TLS filter."""
    m = tls_mx(mx, cert, max_errors=3)
    if how == "swaks":
        r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % m.port,
                            "--tls", "--quit-after", "EHLO", "--helo",
                            "swaks.example"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "<~  221 2.0.0 Bye" in r.stdout, \
            r.stdout + r.stderr
        check_alive(m)
        return
    c = starttls(to_state(m, "helo"))
    c.cmd("EHLO tls.example", 250)
    if how == "quit":
        c.line("QUIT")
        c.expect(221, "2.0.0 Bye")
    elif how == "errors":
        for _ in range(2):
            c.cmd("BOGUS", 500)
        c.line("BOGUS")
        c.expect(500)
        c.expect(421, "4.7.0 %s Error: too many errors" % H)
    else:
        c.send("NOOP\r\nNOOP\r\n")
        c.expect(554, "5.5.0 Error: improper command pipelining after NOOP")
    c.expect_close()
    check_alive(m)


@pytest.mark.parametrize("after", [b"EHLO evil.example\r\n",
                                   b"MAIL FROM:<evil@x.example>\r\n",
                                   b"\x16\x03\x01\x00\x05hello"])
def test_starttls_with_plaintext_injection(mx, cert, after):
    """CVE-2011-0411: anything after STARTTLS in the same write is a
    pipelining error: 554 and closed, no 220, no TLS."""
    m = tls_mx(mx, cert)
    c = to_state(m, "helo")
    r = c.ehlo()
    assert "STARTTLS" in r.lines
    c.send(b"STARTTLS\r\n" + after)
    c.expect(554, "5.5.0 Error: improper command pipelining after STARTTLS")
    c.expect_close()
    check_alive(m)


def test_starttls_then_garbage_handshake(mx, cert):
    m = tls_mx(mx, cert)
    rng = random.Random(SEED + 6)
    blobs = [bytes(rng.randrange(256) for _ in range(n))
             for n in (1, 5, 300, 5000)]
    blobs += [b"\x16\x03\x01\xff\xff" + b"\0" * 100,       # huge record
              b"\x16\x03\x03\x00\x04\x01\x00\xff\xff",     # bad hello length
              b"EHLO plain.example\r\n" * 10,
              b"\x80\x2e\x01\x00\x02" + b"\x00" * 45]      # SSLv2 hello
    for blob in blobs:
        c = to_state(m, "helo")
        c.cmd("STARTTLS", 220, "2.0.0 Ready to start TLS")
        send_quietly(c.sock, blob)
        time.sleep(0.05)
        rst_close(c.sock) if len(blob) % 2 else c.sock.close()
    # the same, but the client then waits: the daemon must hang up
    for blob in blobs[:3]:
        c = to_state(m, "helo")
        c.cmd("STARTTLS", 220)
        send_quietly(c.sock, blob + bytes(range(256)) * 4)
        s = read_all(c.sock, timeout=5)
        assert s.closed, "no hang-up after a failed handshake: %r" % (s,)
        c.sock.close()
    check_alive(m)


def test_tls_session_abuse(mx, cert):
    """Inside TLS: EHLO no longer offers STARTTLS, a second STARTTLS is
    refused, random streams get clean replies, garbage TLS records end the
    session, and an abrupt close mid-DATA delivers nothing."""
    m = tls_mx(mx, cert, max_errors=40)
    rng = random.Random(SEED + 7)
    c = starttls(to_state(m, "helo"))
    r = c.cmd("EHLO tls.example", 250)
    assert "STARTTLS" not in r.lines
    c.cmd("STARTTLS", 503, "5.5.1 Error: TLS already active")
    c.cmd("MAIL FROM:<s@sender.example>", 250)
    c.cmd("RCPT TO:<alice@test.example>", 250)
    c.cmd("DATA", 354)
    c.send(b"Subject: tls\r\n\r\ncut")
    c.sock.close()                          # no close_notify, mid-DATA
    for i in range(6 * SOAK):
        c = starttls(to_state(m, "helo", src="127.0.0.%d" % (60 + i % 40)))
        blob = garbage(rng, rng.choice((100, 2000)))
        if send_quietly(c.sock, blob):
            send_quietly(c.sock, b"\r\n.\r\nQUIT\r\n")
        s = read_all(c.sock, timeout=6)
        assert s.closed, s
        c.sock.close()
    # a finished handshake, then raw garbage at the record layer
    for i in range(3):
        c = starttls(to_state(m, "helo"))
        c.cmd("EHLO tls.example", 250)
        raw = socket.socket(fileno=os.dup(c.sock.fileno()))
        send_quietly(raw, bytes(rng.randrange(256) for _ in range(700)))
        st = read_all(raw, timeout=5)
        assert st.closed
        raw.close()
        try:
            c.sock.close()
        except OSError:
            pass
    assert m.maildir("alice").count() == 0
    check_alive(m)
