# test_scale.py - end-to-end tests of issue 10's "Scale": strictmxd raises
# its soft RLIMIT_NOFILE to the hard limit and warns when max_clients does
# not fit; 1000 idle connections are held while a well-behaved client is
# served, and cost under 5 KiB each (tests/bench/idle.sh measures 10 000).
# Runs in run.sh's private namespace.

import os
import resource
import socket
import subprocess
import time

from e2elib import Client, wait_until

WARN = "max_clients 1000 needs about 2114 file descriptors"


def soft_nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise AssertionError("no Max open files in /proc/%d/limits" % pid)


def under_limit(m, soft, hard):
    """m's daemon (and its -n check) run under prlimit --nofile=SOFT:HARD;
    prlimit execs it, so m.pid stays the daemon's."""
    plain = m.argv

    def argv(*extra):
        return ["prlimit", "--nofile=%d:%d" % (soft, hard), "--"] + \
            plain(*extra)
    m.argv = argv
    return subprocess.run(["prlimit", "--nofile=%d:%d" % (soft, hard), "--",
                           m.binary, "-n", "-f", m.conf_path],
                          capture_output=True, text=True, timeout=20)


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def private_kib(pid):
    kib = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            k, _, rest = line.partition(":")
            if k in ("Private_Clean", "Private_Dirty"):
                kib += int(rest.split()[0])
    return kib


def closed(sock):
    """True when the server closed sock (no select(2): fds pass 1024;
    non-blocking, or Python waits out the socket's timeout first)."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def sanitized(pid):
    """True when the daemon runs under ASan (its memory means nothing)."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def test_soft_limit_raised_to_hard(mx):
    """A soft limit of 256 would stop accept() at about 250 sessions; the
    daemon raises it to the hard limit (4096: max_clients 1000 fits, no
    warning) and holds 400 sessions."""
    m = mx(start=False, max_clients=1000, max_clients_per_ip=1000)
    chk = under_limit(m, 256, 4096)
    assert chk.returncode == 0 and "max_clients" not in chk.stderr, chk
    m.start()
    assert soft_nofile(m.pid) == 4096
    conns = []
    try:
        for i in range(400):
            c = Client("127.0.0.1", m.port, timeout=10)
            conns.append(c)
            c.greet()
        assert nfds(m.pid) >= 400
    finally:
        for c in conns:
            c.close()
    assert "needs about" not in m.log()
    assert "accept:" not in m.log()


def test_warns_when_max_clients_does_not_fit(mx):
    """Hard limit 1024 < 2 x 1000 + 50 + 64: the start (in the log) and
    strictmxd -n (on stderr, exit 0: a warning, not an error) say so."""
    m = mx(start=False, max_clients=1000)
    chk = under_limit(m, 256, 1024)
    assert chk.returncode == 0, chk
    assert "warning: " + WARN in chk.stderr, chk.stderr
    assert "the limit is 1024" in chk.stderr
    m.start()
    assert soft_nofile(m.pid) == 1024
    wait_until(lambda: WARN in m.log(), 5, what="the warning in the log")
    with m.smtplib() as s:
        s.sendmail("a@client.example", ["alice@test.example"],
                   b"Subject: t\r\n\r\nbody\r\n")
    assert m.maildir("alice").count() == 1


def test_reload_warns_when_max_clients_grows_past_the_limit(mx):
    """max_clients 400 fits a hard limit of 1024 (2 x 400 + 50 + 64 =
    914): no warning at start; a reload that raises it to 1000 says the
    new value does not fit, and the reload still takes effect."""
    m = mx(start=False, max_clients=400)
    under_limit(m, 256, 1024)
    m.start()
    assert "needs about" not in m.log()
    m.configure(max_clients=1000)
    m.hup()
    wait_until(lambda: "reload: " + WARN in m.log(), 5,
               what="the warning at reload")
    assert "reload: configuration" in m.log()


def test_1000_idle_sessions(mx):
    """1000 sessions past EHLO, idle, are all held; a client meanwhile
    gets every 250 in time; the descriptors come back when they close; and
    each idle session costs under 5 KiB of private memory (not judged
    under ASan, whose redzones and quarantine are the cost there)."""
    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    m = mx(max_clients=n + 50, max_clients_per_ip=n + 50,
           timeout_command="10m")
    with m.smtplib() as s:		# warm-up: one delivery
        s.sendmail("a@client.example", ["alice@test.example"],
                   b"Subject: warm\r\n\r\nbody\r\n")
    time.sleep(0.5)
    base_fds, base_kib = nfds(m.pid), private_kib(m.pid)
    conns = []
    try:
        for i in range(n):
            c = Client("127.0.0.1", m.port, timeout=20)
            conns.append(c)
            c.greet()
            c.ehlo("idle%d.example" % i)
        wait_until(lambda: nfds(m.pid) >= base_fds + n, 10,
                   what="%d sessions" % n)
        per = (private_kib(m.pid) - base_kib) / n
        for i in range(3):
            t0 = time.monotonic()
            with m.smtplib() as s:
                s.sendmail("a@client.example", ["alice@test.example"],
                           b"Subject: %d\r\n\r\nbody\r\n" % i)
            took = time.monotonic() - t0
            assert took < 5.0, "delivery %d took %.2f s" % (i, took)
        assert m.maildir("alice").count() == 4
        gone = [c for c in conns if closed(c.sock)]
        assert not gone, "%d idle sessions were closed" % len(gone)
        if not sanitized(m.pid):
            assert per < 5.0, "%.2f KiB per idle session" % per
    finally:
        for c in conns:
            c.close()
    wait_until(lambda: nfds(m.pid) <= base_fds, 20,
               what="descriptors back to %d" % base_fds)
