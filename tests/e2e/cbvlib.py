# cbvlib.py - helpers of the return-path / call-back verification e2e tests
# (issue 4): the policy config, DNS zones of sender domains, a scripted
# remote MX that can also split replies and count concurrent probes, one
# SMTP session up to the sender verdict, and the cbv / cbv_cache rows.
#
# Used by test_cbv.py, test_report.py and test_cbv_mta.py; built on
# e2elib (which this file does not change).

import os
import select
import socket
import subprocess
import threading

import pytest

import e2elib
from e2elib import RemoteMX

H = e2elib.HOSTNAME

# The policy under test, HELO out of the way. cbv_timeout short enough
# that no test waits long on a hang unless it sets its own.
CBV_CONF = {
    "sender_policy": "enforce",
    "cbv": "yes",
    "helo_policy": "off",
    "cbv_timeout": "10s",
}

# Client source addresses: outside and inside local_sender_networks.
OUTSIDE = "127.0.0.100"
INSIDE = "127.0.0.200"
LOCAL_NETS = "127.0.0.200/32"

RCPT = "alice@test.example"
PROBE_HELO = "EHLO " + H


def probe_cmds(sender, upto="rcpt", noop=True):
    """The command lines a remote MX sees from a probe of sender (DESIGN
    §1), up to and including the one of stage upto ('noop', 'ehlo',
    'mail', 'rcpt'); the caller adds the "QUIT" when one is due."""
    seq = (["NOOP"] if noop else []) + [PROBE_HELO, "MAIL FROM:<>",
                                        "RCPT TO:<%s>" % sender]
    names = (["noop"] if noop else []) + ["ehlo", "mail", "rcpt"]
    return seq[:names.index(upto) + 1] if upto in names else seq


def rejected(code, enh, addr, text):
    """The text of sender_verdict_refuse()'s reply after the code (code is
    there for the reader: tests compare it apart, as Reply.code)."""
    return "%s <%s>: Sender address rejected: %s" % (enh, addr, text)


def mx_records(domain, ip, pref=10, host=None):
    """MX pref mx.DOMAIN and its A record."""
    host = host or "mx." + domain
    return [("MX", domain, pref, host), ("A", host, ip)]


def zone(domains, extra=()):
    """domains: {domain: ip of its only MX (mx.DOMAIN, pref 10)}."""
    recs = []
    for d, ip in domains.items():
        recs += mx_records(d, ip)
    return recs + list(extra)


def start_mx(mx, **conf):
    """The daemon with the policy config (conf overrides it)."""
    c = dict(CBV_CONF)
    c.update(conf)
    return mx(**c)


class ScriptedMX(RemoteMX):
    """e2elib.RemoteMX plus:
      ('split', [str, ...], gap)  send the pieces (joined they form the
                                  reply, CRLFs included) as separate
                                  packets, gap seconds apart
      ('raw', bytes, '')          send exactly these bytes
    and .max_active: the most probes in flight at once, a probe counting
    from the connection's accept until the answer to its RCPT is chosen
    (after that the daemon's probe is decided and no longer counts against
    cbv_max_per_domain; its QUIT runs detached)."""

    def __init__(self, *a, **kw):
        self.active = 0
        self.max_active = 0
        self.accepted = 0
        self._cl = threading.Lock()
        self._tl = threading.local()
        super().__init__(*a, **kw)

    def _leave(self):
        if getattr(self._tl, "counted", False):
            self._tl.counted = False
            with self._cl:
                self.active -= 1

    def _serve(self, conn, sess):
        with self._cl:
            self.active += 1
            self.accepted += 1
            self.max_active = max(self.max_active, self.active)
        self._tl.counted = True
        try:
            super()._serve(conn, sess)
        finally:
            self._leave()

    def _answer(self, stage, line):
        if stage == "rcpt":
            self._leave()
        return super()._answer(stage, line)

    def _send(self, conn, sess, a):
        if isinstance(a, tuple) and a and a[0] == "split":
            for i, piece in enumerate(a[1]):
                if i and self.stopping.wait(a[2]):
                    return False
                conn.sendall(piece.encode() if isinstance(piece, str)
                             else piece)
            return True
        if isinstance(a, tuple) and a and a[0] == "raw":
            conn.sendall(a[1])
            return True
        return super()._send(conn, sess, a)


@pytest.fixture
def smx():
    """smx(ip, script=None, host='remote.example') -> ScriptedMX on ip:25;
    every one is stopped at teardown. Import it into the test module."""
    servers = []

    def factory(ip, script=None, host="remote.example"):
        s = ScriptedMX(ip, script, 25, host)
        servers.append(s)
        return s
    yield factory
    for s in servers:
        s.stop()


class Blackhole:
    """A TCP address whose connects never complete: a listening socket
    with a full accept queue that nobody accepts from, so the kernel drops
    further SYNs (the client sees a connect that hangs, as behind a
    firewall that drops packets)."""

    def __init__(self, ip, port=25):
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((ip, port))
        self.lsock.listen(0)
        self.fillers = []
        for _ in range(8):          # fill the queue; stop once one hangs
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect((ip, port))
            except BlockingIOError:
                pass
            self.fillers.append(c)
            _, w, _ = select.select([], [c], [], 0.2)
            if not w:
                break

    def stop(self):
        for c in self.fillers:
            c.close()
        self.lsock.close()


@pytest.fixture
def blackhole():
    """blackhole(ip) -> Blackhole on ip:25, closed at teardown."""
    holes = []

    def factory(ip):
        b = Blackhole(ip)
        holes.append(b)
        return b
    yield factory
    for b in holes:
        b.stop()


# -- one session ------------------------------------------------------------

def open_session(m, src=OUTSIDE, helo="client.example"):
    c = m.connect(src=src)
    c.cmd("EHLO " + helo, 250)
    return c


def check_sender(m, sender, rcpt=RCPT, src=OUTSIDE, timeout=15):
    """EHLO, MAIL FROM:<sender> (must get 250 2.1.0 Ok: cbv_stage rcpt),
    RCPT TO:<rcpt>; returns (client, RCPT reply)."""
    c = open_session(m, src)
    c.cmd("MAIL FROM:<%s>" % sender, 250, "2.1.0 Ok")
    r = c.cmd("RCPT TO:<%s>" % rcpt, timeout=timeout)
    return c, r


def finish(c, deliver=False):
    """QUIT (after a message when deliver) and wait for the close."""
    if deliver:
        c.cmd("DATA", 354)
        c.send(b"Subject: cbv test\r\n\r\nhello\r\n.\r\n")
        c.expect(250)
    c.cmd("QUIT", 221, "2.0.0 Bye")
    c.expect_close()


def one_rcpt(m, sender, rcpt=RCPT, src=OUTSIDE, timeout=15):
    """A whole session up to the RCPT verdict and QUIT; the RCPT reply."""
    c, r = check_sender(m, sender, rcpt, src, timeout)
    finish(c)
    return r


# -- database -----------------------------------------------------------------

def rows(m, sql, params=()):
    if not os.path.exists(m.stats_db):
        return []
    try:
        return e2elib.sqlite_rows(m.stats_db, sql, params)
    except Exception as e:          # table not there yet
        if "no such table" in str(e):
            return []
        raise


def final_rows(m, n=None):
    """Stop the daemon (SIGTERM flushes the pending stats batch: no
    waiting for the 1 s timer) and return its cbv rows; with n, assert
    there are exactly n."""
    if m.running():
        m.stop()
    got = rows(m, "SELECT * FROM cbv ORDER BY rowid")
    if n is not None:
        assert len(got) == n, "want %d cbv rows, have %d: %s" % (
            n, len(got), got)
    return got


def cache_rows(m):
    return rows(m, "SELECT * FROM cbv_cache ORDER BY address")


def ctl(ctl_path, m, *args, timeout=30):
    """strictmxctl -f CONF ARGS...; CompletedProcess (text)."""
    return subprocess.run([ctl_path, "-f", m.conf_path] + list(args),
                          capture_output=True, text=True, timeout=timeout,
                          env=m.env)

