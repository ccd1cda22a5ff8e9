# test_hardening_session.py - session-level findings of the hardening audit
# (issue 12), each a regression test:
#
#   slowloris       timeout_command is a deadline for a whole command line
#                   (a byte every 1.5 s no longer holds a session open), a
#                   client idle between commands still gets all of it, and
#                   timeout_data bounds the whole DATA phase against a
#                   trickle
#   tls output      the 64 KiB bound on replies a client does not read holds
#                   under STARTTLS too (the TLS filter's own buffers count)
#   descriptors     under RLIMIT_NOFILE 1024, clients that close abruptly in
#                   every state (greet_delay, a hanging DNS lookup, a hanging
#                   CBV probe, mid-DATA, mid-TLS handshake) leave the
#                   daemon's descriptor count back at its baseline
#
# Runs in run.sh's private namespace, like the rest of the suite; every wait
# is bounded and polled.

import os
import re
import resource
import select
import socket
import ssl
import threading
import time

import pytest

from e2elib import HOSTNAME as H, wait_until
from helolib import HANG, ZONE
from test_hostile import (cert, check_alive, client_ctx, mx_records,  # noqa
                          rst_close, to_state)

TIMEOUT_RE = "4.4.2 %s Error: timeout exceeded" % H


def sessions_freed(m):
    log = m.log()
    a = len(re.findall(r"session=\S+ connect client=", log))
    b = len(re.findall(r"session=\S+ disconnect client=", log))
    return a == b and a > 0


def read_until_closed(sock, limit):
    """Bytes the server sent until it closed (or limit seconds passed);
    returns (data, closed, seconds)."""
    t0 = time.monotonic()
    data = b""
    while time.monotonic() - t0 < limit:
        r, _, _ = select.select([sock], [], [], 0.1)
        if not r:
            continue
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            chunk = b""
        if not chunk:
            return data, True, time.monotonic() - t0
        data += chunk
    return data, False, time.monotonic() - t0


# ---------------------------------------------------------------------------
# slowloris

def test_command_line_trickle_closed_at_timeout_command(mx):
    """'EHLO ...' one byte every 1.5 s with timeout_command 4s: 421 at
    about 4 s after the greeting, not a session kept as long as bytes
    come (the timer used to restart on every read)."""
    m = mx(timeout_command="4s")
    c = m.connect()
    t0 = time.monotonic()
    line = b"EHLO " + b"s" * 40 + b".example\r\n"
    got, closed = b"", False
    for byte in line:
        try:
            c.sock.sendall(bytes([byte]))
        except OSError:
            break
        data, closed, _ = read_until_closed(c.sock, 1.5)
        got += data
        if closed or time.monotonic() - t0 > 14:
            break
    took = time.monotonic() - t0
    assert closed, "still open after %.1fs of a byte every 1.5 s: %r" \
        % (took, got)
    assert got == ("421 %s\r\n" % TIMEOUT_RE).encode(), got
    assert 3.0 <= took <= 8.0, "closed after %.1fs, want about 4s" % took
    assert re.search(r"session=\S+ refused .*cmd=\"init\" code=421", m.log())
    wait_until(lambda: sessions_freed(m), 15, what="the session freed")


def test_idle_wait_gets_the_whole_timeout_command(mx):
    """The deadline covers the wait for a command and the command itself:
    a client that is idle 2.5 s between commands is served, and an idle
    client is closed about timeout_command after our last reply."""
    m = mx(timeout_command="4s")
    c = m.connect()
    for _ in range(3):
        time.sleep(2.5)
        c.cmd("EHLO idle.example", 250)
    t0 = time.monotonic()
    c.expect(421, TIMEOUT_RE, timeout=15)
    took = time.monotonic() - t0
    c.expect_close()
    assert 3.0 <= took <= 8.0, "421 after %.1fs idle, want about 4s" % took


def test_pipelined_lines_each_get_the_deadline(mx):
    """Several lines in one write: each complete line restarts the
    deadline, so a client sending fast is never cut."""
    m = mx(timeout_command="4s")
    c = to_state(m, "helo")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 6:
        c.send(b"RSET\r\nRSET\r\n")
        c.expect(250)
        c.expect(250)
        time.sleep(0.5)
    c.cmd("QUIT", 221)


def test_data_trickle_bounded_by_timeout_data(mx):
    """A message trickled one byte a second: timeout_data is a deadline for
    the whole DATA phase (transfer.c arms it once, at 354), so 421 at about
    timeout_data, nothing delivered."""
    m = mx(timeout_command="30s", timeout_data="5s")
    c = to_state(m, "data")
    t0 = time.monotonic()
    body = b"Subject: slow\r\n\r\n" + b"x" * 100
    got, closed = b"", False
    for byte in body:
        try:
            c.sock.sendall(bytes([byte]))
        except OSError:
            break
        data, closed, _ = read_until_closed(c.sock, 1.0)
        got += data
        if closed or time.monotonic() - t0 > 15:
            break
    took = time.monotonic() - t0
    assert closed and got == ("421 %s\r\n" % TIMEOUT_RE).encode(), \
        (closed, got, took)
    assert 4.0 <= took <= 9.0, "closed after %.1fs, want about 5s" % took
    assert m.maildir("alice").count() == 0
    wait_until(lambda: sessions_freed(m), 15, what="the session freed")
    assert re.search(r"session=\S+ disconnect .* ended=timeout ", m.log()), \
        m.log_tail()
