# test_cbv_mta.py - call-back verification against a real MTA (issue 4):
# Debian's Postfix, with one valid user, is the MX of the sender domain
# pfx.example. Its valid user passes; a made-up user is refused with
# 550 5.1.7 quoting Postfix's own "User unknown" reply.
#
# Postfix runs from a private config directory (postfix -c DIR), listens
# on 127.0.0.20:25 only, inside run.sh's network namespace (where the
# address is added to lo: Postfix's inet_interfaces wants an interface
# address), and is stopped at teardown. Needs the Debian package postfix
# (tests/install-deps.sh); without it the test is skipped, saying so.

import os
import re
import shutil
import signal
import subprocess
import tempfile

import pytest

import e2elib
from e2elib import wait_until
from cbvlib import (check_sender, final_rows, finish, mx_records,
                    one_rcpt, rejected, start_mx)

PFX_IP = "127.0.0.20"
PFX_DOMAIN = "pfx.example"
PFX_HOST = "mx.pfx.example"

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = {ip}
inet_protocols = ipv4
myhostname = {host}
mydomain = {domain}
myorigin = {domain}
mydestination = {domain}
mynetworks = 127.0.0.0/8
local_recipient_maps = inline:{{ valid=ok }}
alias_maps =
alias_database =
smtpd_banner = $myhostname ESMTP Postfix-e2e
maillog_file_prefixes = {d}
maillog_file = {d}/maillog
disable_dns_lookups = yes
smtpd_peername_lookup = no
biff = no
"""


def _run(*argv, check=True):
    p = subprocess.run(list(argv), capture_output=True, text=True,
                       timeout=30)
    if check and p.returncode != 0:
        raise e2elib.HarnessError("%s: exit %d\n%s%s" % (
            " ".join(argv), p.returncode, p.stdout, p.stderr))
    return p


class Postfix:
    """A private Postfix instance listening on ip:25."""

    def __init__(self, ip, domain, host):
        self.ip = ip
        # Postfix's daemons run as user postfix: the tree must be
        # reachable for them (pytest's tmp_path is 0700 root).
        self.dir = tempfile.mkdtemp(prefix="strictmx-e2e-postfix-")
        os.chmod(self.dir, 0o755)
        self.etc = os.path.join(self.dir, "etc")
        for sub in ("etc", "queue", "data"):
            os.mkdir(os.path.join(self.dir, sub))
        shutil.chown(os.path.join(self.dir, "data"), "postfix")
        shutil.copy("/etc/postfix/master.cf", self.etc)
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(d=self.dir, ip=ip, domain=domain,
                                   host=host))
        # no chroot: it would need copies of /etc files in the queue
        _run("postconf", "-c", self.etc, "-F", "*/*/chroot = n")
        self.added_ip = _run("ip", "addr", "add", ip + "/32", "dev", "lo",
                             check=False).returncode == 0
        self.started = False

    def start(self):
        p = _run("postfix", "-c", self.etc, "start", check=False)
        self.started = True
        if p.returncode != 0:
            raise e2elib.HarnessError("postfix start failed: %s%s\n%s"
                                      % (p.stdout, p.stderr, self.log()))
        import ipaddress
        want = (ipaddress.ip_address(self.ip), 25)
        wait_until(lambda: want in e2elib.listening_sockets(), 10,
                   what="postfix to listen on %s:25" % self.ip)

    def log(self):
        try:
            with open(os.path.join(self.dir, "maillog")) as f:
                return f.read()
        except OSError:
            return ""

    def master_pid(self):
        try:
            with open(os.path.join(self.dir, "queue", "pid",
                                   "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        pid = self.master_pid()
        if self.started:
            _run("postfix", "-c", self.etc, "stop", check=False)
        if pid:
            def gone():
                return not os.path.exists("/proc/%d" % pid) or \
                    open("/proc/%d/stat" % pid).read().split()[2] == "Z"
            try:
                wait_until(gone, 10, what="postfix master to exit")
            except e2elib.HarnessError:
                os.kill(pid, signal.SIGKILL)
        if self.added_ip:
            _run("ip", "addr", "del", self.ip + "/32", "dev", "lo",
                 check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def postfix():
    if shutil.which("postfix") is None or \
            not os.path.exists("/etc/postfix/master.cf"):
        pytest.skip("Postfix is not installed (apt-get install postfix; "
                    "tests/install-deps.sh)")
    pf = Postfix(PFX_IP, PFX_DOMAIN, PFX_HOST)
    try:
        pf.start()
        yield pf
    finally:
        pf.stop()


def test_cbv_against_postfix(mx, dns, postfix):
    dns(mx_records(PFX_DOMAIN, PFX_IP, 10, PFX_HOST))
    m = start_mx(mx)
    # the valid user passes, and the mail is delivered
    c, rep = check_sender(m, "valid@" + PFX_DOMAIN)
    assert (rep.code, rep.text) == (250, "2.1.5 Ok"), postfix.log()
    finish(c, deliver=True)
    assert m.maildir("alice").count() == 1
    # a made-up user is refused, quoting Postfix
    rep = one_rcpt(m, "made-up@" + PFX_DOMAIN)
    pfx_reply = ("550 5.1.1 <made-up@pfx.example>: Recipient address "
                 "rejected: User unknown in local recipient table")
    assert (rep.code, rep.text) == (550, rejected(
        "550", "5.1.7", "made-up@pfx.example",
        "verification failed: %s said: %s" % (PFX_HOST, pfx_reply))), \
        postfix.log()
    rs = final_rows(m, 2)
    assert [(r["address"], r["decided_by"], r["outcome"], r["stage"],
             r["mx_host"], r["reply"]) for r in rs] == [
        ("valid@pfx.example", "probe", "pass", "rcpt", PFX_HOST,
         "250 2.1.5 Ok"),
        ("made-up@pfx.example", "probe", "fail", "rcpt", PFX_HOST,
         pfx_reply)]
    # Postfix's side: two probes, each a whole polite dialogue, no mail
    log = wait_until(lambda: (lambda t: t if t.count(" disconnect from ")
                              >= 2 else None)(postfix.log()), 5,
                     what="postfix to log both probes")
    assert re.search(r"reject: RCPT from \S+: 550 5\.1\.1 "
                     r"<made-up@pfx\.example>: .*from=<> "
                     r"to=<made-up@pfx\.example> proto=ESMTP "
                     r"helo=<mx\.test\.example>", log), log
    disc = re.findall(r" disconnect from \S+ (.*)", log)
    assert disc == ["ehlo=1 mail=1 rcpt=1 noop=1 quit=1 commands=5",
                    "ehlo=1 mail=1 rcpt=0/1 noop=1 quit=1 commands=4/5"], log
    assert "status=sent" not in log
