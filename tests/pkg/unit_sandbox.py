#!/usr/bin/python3
# unit_sandbox.py - run strictmxd the way strictmxd.service does, as far as
# that is possible without systemd as PID 1, and check it works that way.
#
# usage: unit_sandbox.py STRICTMXD WORKDIR USER [UNIT]   (root, private netns)
# The unit's privilege model, reproduced with setpriv(1): started as USER
# (User=), never as root; CAP_NET_BIND_SERVICE as the only, ambient
# capability (AmbientCapabilities=, CapabilityBoundingSet=); no_new_privs
# (NoNewPrivileges=); umask 0077 (UMask=); the maildir root and the state
# directory owned by USER, 0700 (postinst, StateDirectory=); $NOTIFY_SOCKET
# (Type=notify); with UNIT and python3-seccomp, the unit's system call
# filter, address families and MemoryDenyWriteExecute (seccomp_exec.py).
# Checks: it binds 127.0.0.1:25, sends READY=1, runs with
# exactly that capability, delivers a message into a 0600 file, answers
# SIGHUP with RELOADING=1 then READY=1 and SIGTERM with STOPPING=1, exits 0.
# Prints one line per check; exit 0 when all pass.

import os
import pwd
import socket
import subprocess
import struct
import sys
import threading
import time

CAP_NET_BIND_SERVICE = 10


def fail(msg):
    print("unit_sandbox: FAIL: " + msg)
    sys.exit(1)


def ok(msg):
    print("unit_sandbox: ok: " + msg)


def dns_servfail(sock):
    """Answer every DNS query with NXDOMAIN, at once: the PTR lookup at
    connect must not wait for a resolver timeout, and the start-up
    resolver check sees a server that answers (SERVFAIL would make it
    warn that every check will tempfail)."""
    while True:
        try:
            q, peer = sock.recvfrom(512)
        except OSError:
            return
        if len(q) >= 12:
            qid, flags = struct.unpack("!HH", q[:4])
            flags = 0x8000 | (flags & 0x0100) | 0x0080 | 3
            sock.sendto(struct.pack("!HH", qid, flags) + q[4:6] +
                        b"\0" * 6 + q[12:], peer)


def notify_wait(sock, want, proc, timeout=10.0):
    """Read datagrams until one holds the line want; return all seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(0.1)
        try:
            msg = sock.recv(4096).decode("ascii", "replace")
        except socket.timeout:
            if proc.poll() is not None and want != "STOPPING=1":
                fail("strictmxd exited (%d) before %s" % (proc.returncode,
                                                          want))
            continue
        seen.append(msg)
        if want in msg.split("\n"):
            return seen
    fail("no %s on NOTIFY_SOCKET (saw %r)" % (want, seen))


def smtp_deliver():
    s = socket.create_connection(("127.0.0.1", 25), timeout=10)
    f = s.makefile("rb")

    def reply():
        while True:
            line = f.readline().decode("ascii", "replace")
            if len(line) < 4 or line[3] != "-":
                return line.strip()

    def cmd(line, want):
        if line is not None:
            s.sendall(line.encode("ascii") + b"\r\n")
        r = reply()
        if not r.startswith(want):
            fail("%s: got %r" % (line, r))

    cmd(None, "220")
    cmd("EHLO [127.0.0.1]", "250")
    cmd("MAIL FROM:<>", "250")
    cmd("RCPT TO:<postmaster@test.example>", "250")
    cmd("DATA", "354")
    cmd("Subject: sandbox\r\n\r\nhello\r\n.", "250")
    cmd("QUIT", "221")
    s.close()


def main():
    daemon, work, user = sys.argv[1:4]
    unit = sys.argv[4] if len(sys.argv) > 4 else None
    pw = pwd.getpwnam(user)
    for d in ("mail", "state"):
        os.mkdir(os.path.join(work, d), 0o700)
        os.chown(os.path.join(work, d), pw.pw_uid, pw.pw_gid)
    with open(os.path.join(work, "recipients"), "w") as f:
        f.write("postmaster@test.example\tpostmaster\n")
    conf = os.path.join(work, "strictmx.conf")
    with open(conf, "w") as f:
        f.write("hostname mx.test.example\nlisten 127.0.0.1:25\n"
                "domains test.example\nrecipients recipients\n"
                "maildir_root %s/mail\nstats_db %s/state/stats.db\n"
                "resolver 127.0.0.1:53\nexempt_clients 127.0.0.0/8\n"
                "local_sender_networks 127.0.0.0/8\n" % (work, work))
    os.chmod(work, 0o755)

    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dns.bind(("127.0.0.1", 53))
    threading.Thread(target=dns_servfail, args=(dns,), daemon=True).start()

    path = os.path.join(work, "notify")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(path)
    os.chmod(path, 0o666)

    log = open(os.path.join(work, "strictmxd.log"), "w")
    argv = ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
            "--clear-groups", "--inh-caps=-all,+net_bind_service",
            "--ambient-caps=-all,+net_bind_service",
            "--bounding-set=-all,+net_bind_service", "--no-new-privs"]
    if unit is not None:
        # Debian's python3, which has python3-seccomp and which the
        # unprivileged user can run.
        here = os.path.dirname(os.path.abspath(__file__))
        argv += ["/usr/bin/python3", os.path.join(here, "seccomp_exec.py"),
                 unit]
    argv += [daemon, "-d", "-f", conf]
    env = dict(os.environ, NOTIFY_SOCKET=path)
    p = subprocess.Popen(argv, env=env, stdout=log, stderr=log,
                         preexec_fn=lambda: os.umask(0o077))
    try:
        notify_wait(ns, "READY=1", p)
        ok("READY=1 after binding 127.0.0.1:25 as %s%s" % (user,
           ", under the unit's seccomp filter" if unit else ""))
        with open("/proc/%d/status" % p.pid) as f:
            st = dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)
        uids = st["Uid"].split()
        if "0" in uids or uids[0] != str(pw.pw_uid):
            fail("uids %s" % uids)
        want = "%016x" % (1 << CAP_NET_BIND_SERVICE)
        for k in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
            if st[k] != want:
                fail("%s %s, want %s" % (k, st[k], want))
        if st.get("NoNewPrivs") != "1":
            fail("NoNewPrivs %s" % st.get("NoNewPrivs"))
        ok("uid %s, CapEff=CapBnd=CapAmb=%s (CAP_NET_BIND_SERVICE), "
           "NoNewPrivs 1" % (uids[0], want))

        smtp_deliver()
        new = os.path.join(work, "mail", "postmaster", "new")
        files = []
        deadline = time.monotonic() + 5
        while not files and time.monotonic() < deadline:
            files = os.listdir(new) if os.path.isdir(new) else []
            time.sleep(0.05)
        if len(files) != 1:
            fail("maildir holds %r" % files)
        st_f = os.stat(os.path.join(new, files[0]))
        st_d = os.stat(new)
        if st_f.st_uid != pw.pw_uid or st_f.st_mode & 0o777 != 0o600:
            fail("message uid %d mode %o" % (st_f.st_uid, st_f.st_mode))
        if st_d.st_mode & 0o777 != 0o700:
            fail("new/ mode %o" % st_d.st_mode)
        if not os.path.exists(os.path.join(work, "state", "stats.db")):
            fail("no stats.db in the state directory")
        ok("delivered into a 0600 file in a 0700 maildir; stats.db written")

        p.send_signal(1)
        seen = notify_wait(ns, "READY=1", p)
        if not any("RELOADING=1" in m.split("\n") for m in seen):
            fail("SIGHUP: READY=1 without RELOADING=1 (%r)" % seen)
        ok("SIGHUP: RELOADING=1 then READY=1")

        p.terminate()
        notify_wait(ns, "STOPPING=1", p)
        rc = p.wait(timeout=40)
        if rc != 0:
            fail("exit status %d after SIGTERM" % rc)
        ok("SIGTERM: STOPPING=1, exit 0")
        with open(os.path.join(work, "strictmxd.log")) as f:
            text = f.read()
        for bad in ("Operation not permitted", "Address family not supported",
                    "Bad system call", "crit:", "warning:"):
            if bad in text:
                fail("the log says %r:\n%s" % (bad, text))
        ok("no warning, no refused system call in the log")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except Exception as e:	# a harness error is a failure, not a crash
        fail("%s: %s" % (type(e).__name__, e))
