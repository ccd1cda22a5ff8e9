# e2elib.py - the pieces of the strictmx end-to-end harness that are not
# pytest fixtures: a raw SMTP line client, the daemon under test, a DNS
# zone served by dnsmasq, scripted remote MXes, and small helpers.
#
# Everything here runs inside the private network namespace that run.sh
# creates: it binds 127.0.0.1:53 and 127.0.0.x:25 and would be wrong (and
# rude) anywhere else.  Every wait is bounded; nothing sleeps a fixed time
# where polling works.
#
#   Client          raw SMTP client: send(), read_reply(), expect(), cmd()
#   Reply           one (possibly multi-line) SMTP reply
#   Strictmxd       one daemon: config, start/stop/hup, maildirs, log
#   Maildir         what one maildir holds (new/ cur/ tmp/ -> {name: bytes})
#   DnsZone         dnsmasq serving a list of records on 127.0.0.1:53
#   RemoteMX        scripted SMTP server on 127.0.0.x:25 recording commands
#   dns_query()     minimal DNS client (UDP) for the harness self-tests
#   sqlite_rows()   rows of an SQLite query as dicts
#   wait_until()    bounded polling

import ipaddress
import itertools
import os
import random
import re
import select
import signal
import socket
import sqlite3
import struct
import subprocess
import threading
import time

CRLF = b"\r\n"
HOSTNAME = "mx.test.example"


class HarnessError(AssertionError):
    """A harness-level failure (timeout, protocol violation by a peer)."""


def wait_until(pred, timeout=5.0, interval=0.01, what="condition"):
    """Poll pred() until it returns a true value; return that value.
    Raises HarnessError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise HarnessError("timed out after %.1fs waiting for %s"
                               % (timeout, what))
        time.sleep(interval)
        interval = min(interval * 1.5, 0.1)


# ---------------------------------------------------------------------------
# Raw SMTP client

REPLY_LINE = re.compile(rb"^([2-5][0-9][0-9])([ -])(.*)$", re.S)


class Reply:
    """One SMTP reply: code (int), lines (texts after 'NNN-'/'NNN ')."""

    def __init__(self, code, lines, raw):
        self.code = code
        self.lines = lines
        self.raw = raw

    @property
    def text(self):
        """The text of a single-line reply (last line of a multi-line)."""
        return self.lines[-1]

    @property
    def full(self):
        """The reply as the server wrote it, without the final CRLF."""
        return self.raw.decode("utf-8", "replace").rstrip("\r\n")

    def __str__(self):
        return self.full

    __repr__ = __str__


class ConnectionClosed(HarnessError):
    pass


class Client:
    """A raw SMTP client bound to a chosen source address.

    send(data) writes bytes (str is UTF-8 encoded) exactly as given, so a
    whole pipelined group can go out in one write.  read_reply() returns
    one complete reply (multi-line aware) and checks its syntax strictly
    (RFC 5321 4.2: 'NNN-' continuations, 'NNN ' last line, CRLF ends).
    Every byte both ways is kept in .transcript for failure messages."""

    def __init__(self, host, port, src="127.0.0.1", timeout=5.0):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if src is not None:
            self.sock.bind((src, 0))
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.timeout = timeout
        self.buf = b""
        self.eof = False
        self.transcript = []
        self.greeting = None

    # -- output
    def send(self, data, timeout=None):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.transcript.append(("C", data))
        self.sock.settimeout(timeout or self.timeout)
        self.sock.sendall(data)

    def line(self, text):
        """Send one command line with CRLF."""
        if isinstance(text, str):
            text = text.encode("utf-8")
        self.send(text + CRLF)

    # -- input
    def _fill(self, deadline):
        if self.eof:
            raise ConnectionClosed("connection closed by server\n"
                                   + self.dump())
        left = deadline - time.monotonic()
        if left <= 0:
            raise HarnessError("timeout waiting for the server\n"
                               + self.dump())
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise HarnessError("timeout waiting for the server\n"
                               + self.dump()) from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            raise ConnectionClosed("connection closed by server\n"
                                   + self.dump())
        self.transcript.append(("S", chunk))
        self.buf += chunk

    def read_line(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            self._fill(deadline)
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def read_reply(self, timeout=None):
        """Read one whole reply; strict about its syntax."""
        deadline = time.monotonic() + (timeout or self.timeout)
        lines, raw, code = [], b"", None
        while True:
            while b"\n" not in self.buf:
                self._fill(deadline)
            i = self.buf.index(b"\n") + 1
            line, self.buf = self.buf[:i], self.buf[i:]
            raw += line
            if not line.endswith(CRLF):
                raise HarnessError("reply line not ended by CRLF: %r\n%s"
                                   % (line, self.dump()))
            m = REPLY_LINE.match(line[:-2])
            if not m:
                raise HarnessError("malformed reply line %r\n%s"
                                   % (line, self.dump()))
            if len(line) > 512:
                raise HarnessError("reply line over 512 octets\n"
                                   + self.dump())
            c = int(m.group(1))
            if code is not None and c != code:
                raise HarnessError("code changed inside a multi-line "
                                   "reply: %r\n%s" % (raw, self.dump()))
            code = c
            lines.append(m.group(3).decode("utf-8", "replace"))
            if m.group(2) == b" ":
                return Reply(code, lines, raw)

    def expect(self, code, text=None, timeout=None):
        """Read a reply; assert its code and, if given, its text (the text
        after 'NNN ' of the last line; a compiled regex is searched)."""
        r = self.read_reply(timeout)
        ok = r.code == code
        if ok and text is not None:
            if hasattr(text, "search"):
                ok = text.search(r.text) is not None
            else:
                ok = r.text == text
        if not ok:
            want = "%d %s" % (code, getattr(text, "pattern", text) or "...")
            raise AssertionError("expected %r, got %r\n%s"
                                 % (want, r.full, self.dump()))
        return r

    def cmd(self, line, code=None, text=None, timeout=None):
        """Send one command line and read (and optionally check) the reply."""
        self.line(line)
        if code is None:
            return self.read_reply(timeout)
        return self.expect(code, text, timeout)

    def greet(self, code=220, text=None):
        self.greeting = self.expect(code, text)
        return self.greeting

    def ehlo(self, name="client.example"):
        return self.cmd("EHLO " + name, 250)

    def expect_close(self, timeout=None):
        """Assert the server closes the connection and sends nothing more."""
        deadline = time.monotonic() + (timeout or self.timeout)
        if self.buf:
            raise AssertionError("unexpected data before close: %r\n%s"
                                 % (self.buf, self.dump()))
        try:
            self._fill(deadline)
        except ConnectionClosed:
            return
        raise AssertionError("unexpected data instead of close: %r\n%s"
                             % (self.buf, self.dump()))

    def is_closed(self, timeout=0.0):
        """True when the server has closed (no data pending)."""
        if self.eof:
            return True
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return False
        try:
            chunk = self.sock.recv(65536, socket.MSG_PEEK)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
        return self.eof

    def dump(self, last=40):
        """The last exchanges, one line per direction, for messages."""
        out = []
        for who, data in self.transcript[-last:]:
            for ln in data.split(b"\n"):
                if ln:
                    out.append("%s: %r" % (who, ln[:300]))
        return "transcript:\n  " + "\n  ".join(out)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


# ---------------------------------------------------------------------------
# The daemon under test

DEFAULT_TABLE = {
    "alice@test.example": "alice",
    "bob@test.example": "bob",
    "carol@test.example": "shared",
    "dave@test.example": "shared",
    "postmaster@test.example": "postmaster",
    "postmaster@other.example": "pm-other",
    "@other.example": "catchall",
}

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "WARNING: ThreadSanitizer")


def free_port(host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def listening_sockets():
    """Set of (ipaddress, port) in LISTEN state in this network namespace
    (read from /proc/net/tcp{,6}, which reflect the reader's namespace;
    probing with connect() would itself count as a client)."""
    out = set()
    for fn, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            with open(fn) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            parts = row.split()
            if parts[3] != "0A":        # TCP_LISTEN
                continue
            hexaddr, hexport = parts[1].split(":")
            raw = bytes.fromhex(hexaddr)
            # the kernel prints each 32-bit word in host (little) endian
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            out.add((ipaddress.ip_address(raw), int(hexport, 16)))
    return out


def parse_listen(value):
    """'127.0.0.1:25 [::1]:25' -> [(ip_address, port), ...]"""
    out = []
    for item in value.split():
        m = re.match(r"^\[(.*)\]:(\d+)$", item) or \
            re.match(r"^([^:]*):(\d+)$", item)
        if not m:
            raise ValueError("bad listen item " + item)
        out.append((ipaddress.ip_address(m.group(1)), int(m.group(2))))
    return out


class Maildir:
    """A snapshot of one maildir: new, cur, tmp map file name -> bytes."""

    def __init__(self, path):
        self.path = path
        for sub in ("new", "cur", "tmp"):
            d = os.path.join(path, sub)
            files = {}
            if os.path.isdir(d):
                for name in sorted(os.listdir(d)):
                    with open(os.path.join(d, name), "rb") as f:
                        files[name] = f.read()
            setattr(self, sub, files)

    def exists(self):
        return os.path.isdir(self.path)

    def one(self):
        """Assert exactly one message in new/ (and none in tmp/ or cur/);
        return (file name, bytes)."""
        assert not self.tmp, "tmp/ of %s not empty: %s" % (self.path,
                                                           list(self.tmp))
        assert not self.cur, "cur/ of %s not empty" % self.path
        assert len(self.new) == 1, "want 1 message in %s/new, have %d: %s" \
            % (self.path, len(self.new), list(self.new))
        return next(iter(self.new.items()))

    def count(self):
        return len(self.new) + len(self.cur)

    def __repr__(self):
        return "Maildir(%s new=%s tmp=%s)" % (self.path, list(self.new),
                                              list(self.tmp))


_notify_seq = itertools.count()


class Strictmxd:
    """One strictmxd process with its own config, table, maildirs, log."""

    def __init__(self, binary, workdir, resolver=None, verbose=False):
        self.binary = binary
        self.dir = str(workdir)
        os.makedirs(self.dir, exist_ok=True)
        self.conf_path = os.path.join(self.dir, "strictmx.conf")
        self.table_path = os.path.join(self.dir, "recipients")
        self.log_path = os.path.join(self.dir, "strictmxd.log")
        self.default_maildir_root = os.path.join(self.dir, "mail")
        self.maildir_root = self.default_maildir_root
        self.stats_db = os.path.join(self.dir, "stats.db")
        self.port = free_port()
        self.resolver = resolver
        self.verbose = verbose
        self.proc = None
        self.returncode = None
        self.env = dict(os.environ)
        self.settings = {}
        self.extra = []
        self.table = dict(DEFAULT_TABLE)

    # -- configuration
    def defaults(self):
        d = {
            "hostname": HOSTNAME,
            "listen": "127.0.0.1:%d" % self.port,
            "domains": "test.example other.example",
            "recipients": self.table_path,
            "maildir_root": self.default_maildir_root,
            "stats_db": self.stats_db,
            "helo_policy": "off",
            "sender_policy": "off",
            "spf_policy": "off",
            "dkim_verify": "no",
            "dmarc_policy": "off",
            "cbv": "no",
            # The scripted remote MXes live on 127.0.0.x, which the
            # default guard forbids, and tests probe many addresses from
            # one client: test_cbv_guard.py sets these back to test them.
            "cbv_forbidden_networks": "none",
            "cbv_max_per_client_minute": "100000",
            "cbv_max_per_domain_minute": "100000",
        }
        if self.resolver:
            d["resolver"] = self.resolver
        return d

    def configure(self, table=None, extra=None, **overrides):
        """Write the config (defaults + overrides; None drops a key; a
        '{port}' in a value is replaced) and the recipients table."""
        if table is not None:
            self.table = dict(table)
        if extra is not None:
            self.extra = list(extra)
        self.settings.update(overrides)
        conf = self.defaults()
        conf.update(self.settings)
        lines = ["# written by the strictmx e2e harness"]
        for k, v in conf.items():
            if v is None:
                continue
            if isinstance(v, (list, tuple)):
                v = " ".join(str(x) for x in v)
            v = str(v).replace("{port}", str(self.port))
            lines.append(("%s %s" % (k, v)).rstrip())
        lines.extend(self.extra)
        self.conf_text = "\n".join(lines) + "\n"
        self.conf = {k: (str(v).replace("{port}", str(self.port))
                         if v is not None else None) for k, v in conf.items()}
        self.maildir_root = self.conf.get("maildir_root") or self.maildir_root
        with open(self.conf_path, "w") as f:
            f.write(self.conf_text)
        self.write_table(self.table)
        os.makedirs(self.maildir_root, exist_ok=True)

    def write_table(self, table):
        self.table = dict(table)
        with open(self.table_path, "w") as f:
            f.write("# address maildir\n")
            for addr, md in self.table.items():
                f.write("%s %s\n" % (addr, md))

    def conf_line(self, key):
        """Line number of key in the written config (1-based)."""
        for i, ln in enumerate(self.conf_text.split("\n"), 1):
            if ln.split(" ", 1)[0] == key:
                return i
        raise KeyError(key)

    # -- process control
    def argv(self, *extra):
        a = [self.binary, "-d", "-f", self.conf_path]
        if self.verbose:
            a.append("-v")
        return a + list(extra)

    def check(self, timeout=10):
        """Run 'strictmxd -n -f CONF'; return CompletedProcess (text)."""
        return subprocess.run([self.binary, "-n", "-f", self.conf_path],
                              capture_output=True, text=True, env=self.env,
                              timeout=timeout)

    def start(self, timeout=5.0):
        """Start 'strictmxd -d -f CONF' and wait (bounded) until it both
        listens and has said READY=1 on $NOTIFY_SOCKET (sd_notify, as
        under systemd Type=notify): listening alone comes before the
        signal handlers are in place, and a SIGHUP then would kill it."""
        if self.proc is not None and self.proc.poll() is None:
            raise HarnessError("already running")
        self.log_fh = open(self.log_path, "ab")
        self.log_start = self.log_fh.tell()
        # an abstract socket: no path length limit, private to the netns
        name = "strictmx-e2e-%d-%d-%d" % (os.getpid(), self.port,
                                          next(_notify_seq))
        self.notify_sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify_sock.bind("\0" + name)
        self.notify_sock.setblocking(False)
        self.notes = []
        env = dict(self.env, NOTIFY_SOCKET="@" + name)
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=self.log_fh, stderr=self.log_fh,
                                     env=env)
        self.returncode = None
        want = parse_listen(self.conf["listen"])

        def ready():
            if self.proc.poll() is not None:
                raise HarnessError("strictmxd exited with %s at start:\n%s"
                                   % (self.proc.returncode, self.log()))
            have = listening_sockets()
            return all(w in have for w in want) and \
                "READY=1" in self.notifications()
        try:
            wait_until(ready, timeout, what="strictmxd to listen on %s and "
                       "send READY=1 (notes so far: %s)"
                       % (self.conf["listen"], self.notes))
        except HarnessError:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.log_fh.close()
            self.notify_sock.close()
            raise
        return self

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def notifications(self):
        """Every sd_notify message received so far (one str each)."""
        while True:
            try:
                data = self.notify_sock.recv(4096)
            except (BlockingIOError, OSError):
                break
            self.notes.extend(ln for ln in data.decode("utf-8",
                                                       "replace").split("\n")
                              if ln)
        return self.notes

    def wait_notify(self, state, after=0, timeout=5.0):
        """Wait for state (e.g. 'READY=1') among notes[after:]."""
        return wait_until(lambda: state in self.notifications()[after:],
                          timeout, what="%s from strictmxd (notes: %s)"
                          % (state, self.notes))

    def hup(self, wait=True):
        """SIGHUP; by default wait for the reload cycle to end (RELOADING=1
        then READY=1 on the notify socket, whether it succeeded or not)."""
        n = len(self.notifications())
        self.signal(signal.SIGHUP)
        if wait:
            self.wait_notify("RELOADING=1", n)
            k = self.notes.index("RELOADING=1", n)
            self.wait_notify("READY=1", k + 1)

    def wait(self, timeout=10.0):
        """Wait for the process to exit; return its exit status."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise HarnessError("strictmxd did not exit within %.0fs;"
                               " killed\n%s" % (timeout, self.log_tail()))
        finally:
            if self.proc.poll() is not None:
                self.log_fh.close()
                self.notifications()
                self.notify_sock.close()
        return self.returncode

    def stop(self, timeout=10.0):
        """SIGTERM, wait, assert exit status 0."""
        if self.running():
            self.signal(signal.SIGTERM)
        rc = self.wait(timeout)
        assert rc == 0, "strictmxd exited %s after SIGTERM\n%s" \
            % (rc, self.log_tail())

    # -- clients
    def connect(self, src="127.0.0.1", greeting=True, host="127.0.0.1",
                port=None, timeout=5.0):
        """A raw Client; by default the 220 greeting is read and checked."""
        c = Client(host, port or self.port, src, timeout)
        if greeting:
            c.greet(220, "%s ESMTP-RFC3821 strictmx ready"
                    % self.conf["hostname"]
                    if self.conf.get("advertise_rfc3821") in (None, "yes")
                    else None)
        return c

    def smtplib(self, src="127.0.0.1", helo="client.example", timeout=10):
        import smtplib
        s = smtplib.SMTP(local_hostname=helo, timeout=timeout,
                         source_address=(src, 0))
        s.connect("127.0.0.1", self.port)
        return s

    # -- results
    def maildir(self, name):
        return Maildir(os.path.join(self.maildir_root, name))

    def maildirs(self):
        """{relative path: Maildir} of every maildir below maildir_root."""
        out = {}
        for root, dirs, _files in os.walk(self.maildir_root):
            if "new" in dirs or "tmp" in dirs or "cur" in dirs:
                out[os.path.relpath(root, self.maildir_root)] = Maildir(root)
        return out

    def all_messages(self):
        """[(maildir, name, bytes)] of every file in any new/ or cur/."""
        out = []
        for rel, md in sorted(self.maildirs().items()):
            for name, data in list(md.new.items()) + list(md.cur.items()):
                out.append((rel, name, data))
        return out

    def tmp_files(self):
        return [(rel, list(md.tmp)) for rel, md in self.maildirs().items()
                if md.tmp]

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "log tail:\n" + "\n".join(self.log().splitlines()[-n:])

    def wait_log(self, pattern, timeout=5.0, since=0):
        """Wait until the log (from offset since) matches pattern."""
        rx = re.compile(pattern)

        def f():
            return rx.search(self.log()[since:])
        return wait_until(f, timeout, what="log line /%s/" % pattern)

    def vm(self, field="VmHWM"):
        """A memory figure of the daemon in KiB, from /proc/PID/status."""
        with open("/proc/%d/status" % self.pid) as f:
            for ln in f:
                if ln.startswith(field + ":"):
                    return int(ln.split()[1])
        raise KeyError(field)

    def sanitizer_reports(self):
        return [ln for ln in self.log().splitlines()
                if any(m in ln for m in SANITIZER_MARKS)]


# ---------------------------------------------------------------------------
# DNS: dnsmasq serving a test zone

DNS_TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15,
             "TXT": 16, "AAAA": 28}
DNS_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN",
              4: "NOTIMP", 5: "REFUSED"}


def _dns_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def _dns_read_name(msg, off):
    labels, jumped, end = [], False, off
    for _ in range(128):
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if not jumped:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            jumped = True
            continue
        if n == 0:
            if not jumped:
                end = off + 1
            return ".".join(labels), end
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    raise HarnessError("DNS name loop")


def dns_query(name, qtype, server="127.0.0.1", port=53, timeout=2.0):
    """Ask one question over UDP; return (rcode name, [(name, type, value)]).
    Values: A/AAAA text address, PTR/CNAME/NS name, MX (pref, host),
    TXT str."""
    t = DNS_TYPES[qtype]
    qid = random.randrange(65536)
    pkt = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + \
        _dns_name(name) + struct.pack(">HH", t, 1)
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(pkt, (server, port))
        while True:
            msg, _ = s.recvfrom(4096)
            if struct.unpack(">H", msg[:2])[0] == qid:
                break
    _, flags, qd, an, _, _ = struct.unpack(">HHHHHH", msg[:12])
    off = 12
    for _ in range(qd):
        _, off = _dns_read_name(msg, off)
        off += 4
    names = {v: k for k, v in DNS_TYPES.items()}
    answers = []
    for _ in range(an):
        rname, off = _dns_read_name(msg, off)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        rd = msg[off:off + rdlen]
        if rtype == 1:
            v = socket.inet_ntop(socket.AF_INET, rd)
        elif rtype == 28:
            v = socket.inet_ntop(socket.AF_INET6, rd)
        elif rtype in (2, 5, 12):
            v = _dns_read_name(msg, off)[0]
        elif rtype == 15:
            v = (struct.unpack(">H", rd[:2])[0],
                 _dns_read_name(msg, off + 2)[0])
        elif rtype == 16:
            v, i = b"", 0
            while i < len(rd):
                v += rd[i + 1:i + 1 + rd[i]]
                i += 1 + rd[i]
            v = v.decode("utf-8", "replace")
        else:
            v = rd
        answers.append((rname, names.get(rtype, rtype), v))
        off += rdlen
    return DNS_RCODES.get(flags & 0xF, flags & 0xF), answers


def reverse_name(ip):
    return ipaddress.ip_address(ip).reverse_pointer


class _UdpResponder(threading.Thread):
    """A UDP 'DNS server' that never answers (mode 'timeout') or answers
    every question with SERVFAIL (mode 'servfail')."""

    def __init__(self, addr, mode):
        super().__init__(daemon=True)
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((addr, 53))
        self.stopping = False

    def run(self):
        while not self.stopping:
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if not r:
                continue
            try:
                msg, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if self.mode != "servfail" or len(msg) < 12:
                continue
            try:
                _, end = _dns_read_name(msg, 12)
            except (IndexError, HarnessError):
                continue
            flags = 0x8000 | (msg[2] << 8 & 0x7900) | 0x0080 | 2
            self.sock.sendto(msg[:2] + struct.pack(">H", flags)
                             + b"\0\1" + b"\0" * 6 + msg[12:end + 4], peer)

    def stop(self):
        self.stopping = True
        self.join(2)
        self.sock.close()


class DnsZone:
    """dnsmasq on 127.0.0.1:53 serving exactly the records given.

    records: list of tuples
        ('A', name, ipv4)          ('AAAA', name, ipv6)
        ('PTR', ip, name)          ('MX', domain, pref, host)  ('.': null MX)
        ('TXT', name, text)        ('CNAME', alias, target)
    Names under .example, in-addr.arpa and ip6.arpa that have no record get
    NXDOMAIN (dnsmasq --local), a name with records of other types NODATA.
    timeout=[domains]: queries for these never get an answer;
    servfail=[domains]: they get SERVFAIL.

    A/AAAA are served with --dns-rr, not --host-record, because
    --host-record also invents a PTR record and tests of HELO/PTR matching
    need an address without one; --dns-rr gives NXDOMAIN instead of NODATA
    for other types of a name that has nothing else, so such names also
    get a TXT record 'e2e-placeholder' (strictmx never asks for TXT)."""

    def __init__(self, workdir, records, timeout=(), servfail=(),
                 listen="127.0.0.1"):
        self.records = list(records)
        self.listen = listen
        self.log_path = os.path.join(str(workdir), "dnsmasq.log")
        self.helpers = []
        args = ["dnsmasq", "--no-resolv", "--no-hosts", "--no-daemon",
                "--port=53", "--listen-address=" + listen,
                "--bind-interfaces", "--user=root", "--group=root",
                "--pid-file=", "--log-queries", "--log-facility=-",
                "--local-ttl=60", "--cache-size=0",
                "--local=/example/", "--local=/in-addr.arpa/",
                "--local=/ip6.arpa/"]
        named, txt = set(), set()
        for rec in self.records:
            kind = rec[0].upper()
            if kind == "A":
                ip = ipaddress.IPv4Address(rec[2])
                args.append("--dns-rr=%s,1,%s" % (rec[1], ip.packed.hex()))
                named.add(rec[1].lower())
            elif kind == "AAAA":
                ip = ipaddress.IPv6Address(rec[2])
                args.append("--dns-rr=%s,28,%s" % (rec[1], ip.packed.hex()))
                named.add(rec[1].lower())
            elif kind == "PTR":
                args.append("--ptr-record=%s,%s" % (reverse_name(rec[1]),
                                                    rec[2]))
            elif kind == "MX":
                args.append("--mx-host=%s,%s,%d" % (rec[1], rec[3], rec[2]))
            elif kind == "TXT":
                args.append("--txt-record=%s,%s" % (rec[1], rec[2]))
                txt.add(rec[1].lower())
            elif kind == "CNAME":
                args.append("--cname=%s,%s" % (rec[1], rec[2]))
            else:
                raise ValueError("record type %r" % (rec[0],))
        for name in sorted(named - txt):
            args.append("--txt-record=%s,e2e-placeholder" % name)
        for i, (mode, domains) in enumerate((("timeout", timeout),
                                             ("servfail", servfail))):
            if not domains:
                continue
            addr = "127.0.0.%d" % (53 + i)
            h = _UdpResponder(addr, mode)
            h.start()
            self.helpers.append(h)
            for d in domains:
                args.append("--server=/%s/%s" % (d, addr))
        self.args = args
        self.log_fh = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self.log_fh, stderr=self.log_fh)

        def ready():
            if self.proc.poll() is not None:
                raise HarnessError("dnsmasq exited: %s" % self.log())
            try:
                return dns_query("localhost.invalid-probe.example", "A",
                                 listen, timeout=0.2)
            except (socket.timeout, ConnectionRefusedError):
                return None
        wait_until(ready, 5.0, what="dnsmasq to answer")

    @property
    def resolver(self):
        return self.listen

    def query(self, name, qtype, timeout=2.0):
        return dns_query(name, qtype, self.listen, timeout=timeout)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_fh.close()
        for h in self.helpers:
            h.stop()


# ---------------------------------------------------------------------------
# Scripted remote MX

REMOTE_DEFAULT_SCRIPT = {
    "greeting": "220 {host} ESMTP scripted",
    "ehlo": ["250-{host}", "250-PIPELINING", "250 8BITMIME"],
    "helo": "250 {host}",
    "noop": "250 2.0.0 Ok",
    "mail": "250 2.1.0 Ok",
    "rcpt": "250 2.1.5 Ok",
    "data": "354 End data with <CR><LF>.<CR><LF>",
    "dot": "250 2.0.0 Ok: queued",
    "rset": "250 2.0.0 Ok",
    "vrfy": "252 2.0.0 Try it",
    "quit": "221 2.0.0 Bye",
    "starttls": "454 4.7.0 TLS not available",
    "unknown": "500 5.5.2 Error: command not recognized",
}

GARBAGE = b"\x00\xff garbage that is not an SMTP reply\r\n"


class RemoteSession:
    def __init__(self, peer):
        self.peer = peer            # (ip, port) of the client
        self.commands = []          # every line received, without CRLF
        self.messages = []          # bodies received after DATA (bytes)
        self.stages = []            # stage of each command
        self.closed = threading.Event()
        self.ended_by = None        # 'client', 'server', 'stop'


class RemoteMX:
    """A scripted SMTP server on ip:port (default 127.0.0.x:25).

    script maps a stage to an answer; stages: greeting, ehlo, helo, noop,
    mail, rcpt, data, dot (end of message), rset, vrfy, quit, starttls,
    unknown.  An answer is
        'NNN text'              one reply line ({host} is replaced)
        ['NNN-a', 'NNN b']      a multi-line reply
        'hang'                  answer nothing; keep reading until closed
        'drop'                  close the connection without answering
        'garbage'               send a line that is not an SMTP reply
        ('delay', secs, answer) wait, then answer
        {addr: answer, '*': a}  (rcpt/mail) by the address inside <>
        callable(line) -> answer
    Every command line received is recorded in .sessions[i].commands."""

    def __init__(self, ip="127.0.0.2", script=None, port=25,
                 host="remote.example"):
        self.ip, self.port, self.host = ip, port, host
        self.script = dict(REMOTE_DEFAULT_SCRIPT)
        self.script.update(script or {})
        self.sessions = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        self.lsock = socket.socket(family, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((ip, port))
        self.lsock.listen(64)
        self.threads = []
        self.conns = []
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self.threads.append(t)

    # -- bookkeeping
    @property
    def commands(self):
        with self.lock:
            return [c for s in self.sessions for c in s.commands]

    def wait_sessions(self, n=1, timeout=5.0):
        wait_until(lambda: len(self.sessions) >= n, timeout,
                   what="%d session(s) at the remote MX %s" % (n, self.ip))
        return self.sessions[:n]

    def wait_closed(self, timeout=5.0):
        """Wait until every session so far has ended."""
        for s in list(self.sessions):
            if not s.closed.wait(timeout):
                raise HarnessError("remote MX session from %s not closed"
                                   % (s.peer,))

    # -- server
    def _accept_loop(self):
        while not self.stopping.is_set():
            r, _, _ = select.select([self.lsock], [], [], 0.05)
            if not r:
                continue
            try:
                conn, peer = self.lsock.accept()
            except OSError:
                return
            sess = RemoteSession(peer)
            with self.lock:
                self.sessions.append(sess)
                self.conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn, sess),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def _answer(self, stage, line):
        a = self.script.get(stage, self.script["unknown"])
        for _ in range(8):
            if callable(a):
                a = a(line)
            elif isinstance(a, dict):
                m = re.search(r"<([^>]*)>", line)
                key = m.group(1).lower() if m else ""
                a = a.get(key, a.get("*", self.script["unknown"]))
            else:
                break
        return a

    def _send(self, conn, sess, a):
        """Carry out one answer; False when the session must end."""
        if isinstance(a, tuple) and a and a[0] == "delay":
            if self.stopping.wait(a[1]):
                return False
            return self._send(conn, sess, a[2])
        if a == "drop":
            sess.ended_by = "server"
            return False
        if a == "hang":
            # read and record until the client gives up or we stop
            while not self.stopping.is_set():
                r, _, _ = select.select([conn], [], [], 0.05)
                if r:
                    data = conn.recv(65536)
                    if not data:
                        sess.ended_by = "client"
                        return False
                    for ln in data.split(b"\r\n"):
                        if ln:
                            sess.commands.append(ln.decode("latin-1"))
                            sess.stages.append("hang")
            sess.ended_by = "stop"
            return False
        if a == "garbage":
            conn.sendall(GARBAGE)
            return True
        lines = a if isinstance(a, list) else [a]
        out = b"".join(ln.format(host=self.host).encode() + CRLF
                       for ln in lines)
        conn.sendall(out)
        return True

    def _serve(self, conn, sess):
        f = conn.makefile("rb")
        try:
            if not self._send(conn, sess, self._answer("greeting", "")):
                return
            while not self.stopping.is_set():
                raw = f.readline(4096)
                if not raw:
                    sess.ended_by = sess.ended_by or "client"
                    return
                line = raw.rstrip(b"\r\n").decode("latin-1")
                verb = line.split(" ", 1)[0].upper()
                if verb == "MAIL" or verb == "RCPT":
                    stage = verb.lower()
                elif verb.lower() in self.script and verb.lower() not in (
                        "greeting", "dot", "unknown"):
                    stage = verb.lower()
                else:
                    stage = "unknown"
                with self.lock:
                    sess.commands.append(line)
                    sess.stages.append(stage)
                a = self._answer(stage, line)
                if not self._send(conn, sess, a):
                    return
                while isinstance(a, tuple):     # ('delay', secs, answer)
                    a = a[2]
                code = a if isinstance(a, str) else (
                    a[-1] if isinstance(a, list) else "")
                if stage == "data" and code.startswith("354"):
                    body = b""
                    while True:
                        raw = f.readline(1 << 20)
                        if not raw:
                            sess.ended_by = "client"
                            return
                        if raw == b".\r\n":
                            break
                        body += raw[1:] if raw.startswith(b".") else raw
                    sess.messages.append(body)
                    if not self._send(conn, sess, self._answer("dot", "")):
                        return
                if stage == "quit":
                    sess.ended_by = "server"
                    return
        except OSError:
            sess.ended_by = sess.ended_by or "client"
        finally:
            try:
                f.close()
                conn.close()
            except OSError:
                pass
            sess.closed.set()

    def stop(self):
        self.stopping.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for t in self.threads:
            t.join(2)


# ---------------------------------------------------------------------------
# SQLite

def sqlite_rows(path, sql, params=()):
    """Run one query read-only; return rows as dicts."""
    uri = "file:%s?mode=ro" % path
    con = sqlite3.connect(uri, uri=True, timeout=5)
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(sql, params)]
    finally:
        con.close()
