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


# ---------------------------------------------------------------------------
# output bound under TLS

def small_quarantine():
    """An environment for a daemon whose VmRSS is measured: under ASan,
    freed memory waits in a quarantine (256 MiB by default) that VmRSS
    counts although nothing holds it; TLS churns through allocations, so
    keep it small (ignored by a build without ASan)."""
    old = os.environ.get("ASAN_OPTIONS")
    return {"ASAN_OPTIONS": (old + ":" if old else "") +
            "quarantine_size_mb=1"}


def test_tls_client_that_never_reads_is_bounded(mx, cert):
    """As test_hostile's test_client_that_never_reads_is_bounded, but after
    STARTTLS: thousands of pipelined RSETs (NOOP may not be pipelined,
    RFC 2920 §3.1) from a client that never reads. The daemon must stop
    reading once the replies back up - counting what the TLS filter and
    the socket layer under it hold - and close the session at
    timeout_command, its memory bounded."""
    m = mx(tls_certificate=cert[0], tls_key=cert[1], timeout_command="5s",
           env=small_quarantine())
    c = to_state(m, "helo")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.cmd("STARTTLS", 220, "2.0.0 Ready to start TLS")
    s = client_ctx().wrap_socket(c.sock, server_hostname=H)
    s.sendall(b"EHLO tls.example\r\n")
    time.sleep(0.3)
    rss0 = m.vm("VmRSS")
    chunk = b"RSET\r\n" * 10000
    sent = [0]
    stop = threading.Event()

    def writer():
        try:
            while sent[0] < 200 * 2 ** 20 and not stop.is_set():
                s.sendall(chunk)
                sent[0] += len(chunk)
        except (OSError, ssl.SSLError):
            pass
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    t0, last, mark = time.monotonic(), time.monotonic(), 0
    peak = 0
    while time.monotonic() - t0 < 20 and t.is_alive():
        time.sleep(0.2)
        peak = max(peak, m.vm("VmRSS") - rss0)
        if sent[0] != mark:
            mark, last = sent[0], time.monotonic()
        elif time.monotonic() - last > 2:
            break               # the daemon stopped reading: good
    peak = max(peak, m.vm("VmRSS") - rss0)
    stop.set()
    assert peak < 32 * 1024, "VmRSS grew by %d KiB after %.1f MB of " \
        "pipelined RSET over TLS that were never read" \
        % (peak, sent[0] / 2.0 ** 20)
    # throttled, then timed out and freed as in plain text
    wait_until(lambda: re.search(r"refused client=127\.0\.0\.1 .*code=421 "
                                 r"reply=\"421 %s" % re.escape(TIMEOUT_RE),
                                 m.log()), 15, what="the 421 timeout")
    wait_until(lambda: sessions_freed(m), 20, what="the session freed")
    t.join(5)
    rst_close(c.sock)
    check_alive(m)


def test_tls_parked_session_input_is_bounded(mx, dns, cert):
    """A session parked on a DNS lookup (HELO against a never-answering
    name) still reads, to notice a client that leaves, but no more than
    64 KiB (RFC 2920 §3.1): under STARTTLS the plain layer below the TLS
    filter must not take in everything the client sends meanwhile."""
    dns(ZONE, timeout=[HANG])
    m = mx(tls_certificate=cert[0], tls_key=cert[1], helo_policy="enforce",
           helo_match="a", env=small_quarantine())
    c = to_state(m, "helo", src="127.0.0.5", helo="good.client.example")
    c.cmd("STARTTLS", 220, "2.0.0 Ready to start TLS")
    s = client_ctx().wrap_socket(c.sock, server_hostname=H)
    s.sendall(b"HELO x.%s\r\n" % HANG.encode())
    time.sleep(0.3)
    rss0 = m.vm("VmRSS")
    sent = [0]

    def writer():
        try:
            while sent[0] < 200 * 2 ** 20:
                s.sendall(b"x" * 65536)
                sent[0] += 65536
        except (OSError, ssl.SSLError):
            pass
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    t0, last, mark, peak = time.monotonic(), time.monotonic(), 0, 0
    while time.monotonic() - t0 < 4 and t.is_alive():
        time.sleep(0.2)
        peak = max(peak, m.vm("VmRSS") - rss0)
        if sent[0] != mark:
            mark, last = sent[0], time.monotonic()
        elif time.monotonic() - last > 1.5:
            break
    peak = max(peak, m.vm("VmRSS") - rss0)
    rst_close(c.sock)
    t.join(5)
    assert peak < 32 * 1024, "VmRSS grew by %d KiB while a parked TLS " \
        "session was sent %.1f MB" % (peak, sent[0] / 2.0 ** 20)
    wait_until(lambda: sessions_freed(m), 15, what="the session freed")
    check_alive(m, src="127.0.0.5", helo="good.client.example")
