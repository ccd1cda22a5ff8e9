# test_quarantine_dovecot.py - DMARC quarantine proved end to end (issue 9
# item 2): the real strictmxd (dmarc_policy enforce, running as nobody)
# receives a p=quarantine forgery and a legitimate signed message of the
# same domain for one recipient; a private Dovecot (dovecot-imapd, its own
# config as in tests/dovecot/run.sh, IMAP on 127.0.0.1:1143 inside run.sh's
# namespace) serves that maildir and shows over IMAP: INBOX holds the
# legitimate message, mailbox "Junk" the forgery, and FETCH returns the
# exact bytes on disk (LF made CRLF), our Authentication-Results first with
# dmarc=fail (p=quarantine dis=quarantine), the forged one claiming our
# authserv-id gone, a foreign one kept below ours.
#
# Needs real root (Dovecot drops to its own users dovecot and dovenull and
# refuses to serve uid 0) and dovecot-imapd: otherwise skipped.

import base64
import imaplib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time

import dkim
import pytest

import e2elib
from e2elib import wait_until

H = e2elib.HOSTNAME
DOVECOT = "/usr/sbin/dovecot"
IMAP_PORT = 1143
SRC = "127.0.0.20"


def _real_root():
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() == ["0", "0", "4294967295"]
    except OSError:
        return False


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    d = tmp_path_factory.mktemp("dkimkey")
    priv = d / "k.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(priv), "2048"],
                   check=True, capture_output=True)
    pub = subprocess.run(["openssl", "rsa", "-in", str(priv), "-pubout",
                          "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return priv.read_bytes(), "v=DKIM1; k=rsa; p=" + \
        base64.b64encode(pub).decode()


@pytest.fixture
def nobody():
    if not (os.access(DOVECOT, os.X_OK) and
            os.access("/usr/lib/dovecot/imap", os.X_OK)):
        pytest.skip("dovecot-imapd not installed")
    if not _real_root():
        pytest.skip("needs real root (Dovecot and user nobody)")
    try:
        for u in ("dovecot", "dovenull"):
            pwd.getpwnam(u)
        return pwd.getpwnam("nobody")
    except KeyError as e:
        pytest.skip("no user %s" % e)


@pytest.fixture
def spool(nobody):
    """A directory every user can traverse (pytest's tmp dirs are 0700
    root): the daemon's maildirs and stats, Dovecot's config and state."""
    d = tempfile.mkdtemp(prefix="strictmx-e2e-dovecot-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Dovecot:
    """Debian's dovecot in the foreground from a private config: nothing
    of /etc/dovecot is read. One passwd-file user 'test' (uid nobody)
    whose INBOX is the given maildir."""

    def __init__(self, top, maildir, uid, gid):
        self.dir = os.path.join(top, "dovecot")
        for sub in ("", "run", "state", "home"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        os.chown(os.path.join(self.dir, "home"), uid, gid)
        os.chmod(self.dir, 0o755)
        self.log_path = os.path.join(self.dir, "dovecot.log")
        passwd = os.path.join(self.dir, "passwd")
        with open(passwd, "w") as f:
            # a throwaway password for a server on a private loopback
            f.write("test:{PLAIN}secret:%d:%d::%s/home::\n"
                    % (uid, gid, self.dir))
        os.chmod(passwd, 0o644)
        conf = os.path.join(self.dir, "dovecot.conf")
        with open(conf, "w") as f:
            f.write("""# private instance for the strictmx e2e tests
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:{maildir}
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {passwd}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""".format(d=self.dir, maildir=maildir, passwd=passwd, port=IMAP_PORT))
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                raise e2elib.HarnessError("dovecot exited: %s %s" % (
                    self.proc.stdout.read(), self.log()))
            return any(p == IMAP_PORT for _, p in
                       e2elib.listening_sockets())
        wait_until(up, 10, what="dovecot on 127.0.0.1:%d" % IMAP_PORT)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture
def dovecot(spool, nobody):
    started = []

    def factory(maildir):
        d = Dovecot(spool, maildir, nobody.pw_uid, nobody.pw_gid)
        started.append(d)
        return d
    yield factory
    for d in started:
        d.stop()


def message(frm, subject, top="", body="hello\r\n"):
    return ("%sFrom: %s\r\nTo: alice@test.example\r\nSubject: %s\r\n"
            "Date: Sun, 06 Dec 2026 12:00:00 +0000\r\n"
            "Message-ID: <%s@client.example>\r\n\r\n%s"
            % (top, frm, subject, subject, body)).encode()


def send(m, msg):
    with m.connect(src=SRC) as c:
        c.cmd("EHLO client.example", 250)
        c.cmd("MAIL FROM:<x@nospf.example>", 250)
        c.cmd("RCPT TO:<alice@test.example>", 250)
        c.cmd("DATA", 354)
        c.send(msg.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        r = c.read_reply(timeout=30)
        c.cmd("QUIT", 221)
    return r


def fetch(imap, num):
    typ, data = imap.fetch(str(num), "(RFC822.SIZE BODY.PEEK[])")
    assert typ == "OK" and isinstance(data[0], tuple), (typ, data)
    size = int(re.search(rb"RFC822\.SIZE (\d+)", data[0][0]).group(1))
    return size, data[0][1]


def authres_fields(text):
    """The Authentication-Results fields of a header section (CRLF),
    unfolded, in order."""
    head = text.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    return [re.sub(rb"\r\n[ \t]", b" ", mm.group(0)).rstrip(b"\r\n")
            .decode() for mm in re.finditer(
                rb"^Authentication-Results:.*?\r\n(?![ \t])", head,
                re.S | re.M | re.I)]


FORGED = ("Authentication-Results: %s; dkim=pass header.d=quar.example;\r\n"
          "\tdmarc=pass (p=quarantine dis=none) header.from=quar.example\r\n"
          % H)
FOREIGN = "Authentication-Results: relay.other.example; spf=pass\r\n"


def test_quarantine_is_dovecot_junk(dns, mx, spool, nobody, dovecot, key):
    dns([("TXT", "_dmarc.quar.example", "v=DMARC1; p=quarantine"),
         ("TXT", "sel._domainkey.quar.example", key[1])])
    os.chown(spool, nobody.pw_uid, nobody.pw_gid)   # for stats.db
    m = mx(user="nobody", maildir_root=os.path.join(spool, "mail"),
           stats_db=os.path.join(spool, "stats.db"), spf_policy="off",
           dkim_verify="yes", dmarc_policy="enforce", start=False)
    os.chown(m.maildir_root, nobody.pw_uid, nobody.pw_gid)
    m.start()       # it checks at start that nobody can write there

    legit = message("Boss <boss@quar.example>", "legitimate")
    legit = dkim.sign(legit, b"sel", b"quar.example", key[0],
                      include_headers=[b"from", b"to", b"subject",
                                       b"date"]) + legit
    forgery = message("Boss <boss@quar.example>", "forgery",
                      top=FORGED + FOREIGN,
                      body="Pay invoice 42.\r\n.leading dot\r\n")
    r1, r2 = send(m, legit), send(m, forgery)
    assert r1.code == 250 and r2.code == 250, (r1, r2)

    alice = os.path.join(m.maildir_root, "alice")
    inbox = e2elib.Maildir(alice)
    junk = e2elib.Maildir(os.path.join(alice, ".Junk"))
    (_, idata), (jname, jdata) = inbox.one(), junk.one()
    assert os.stat(os.path.join(alice, ".Junk", "new", jname)).st_uid == \
        nobody.pw_uid
    # on disk: our three fields on top of what was sent (dot-unstuffed,
    # LF), minus the field that forged our authserv-id
    sent_j = (FOREIGN.encode() + forgery.split(FOREIGN.encode(), 1)[1]) \
        .replace(b"\r\n", b"\n")
    sent_i = legit.replace(b"\r\n", b"\n")
    assert jdata.endswith(sent_j) and idata.endswith(sent_i)
    ours_j = jdata[:-len(sent_j)]
    assert ours_j.startswith(b"Return-Path: <x@nospf.example>\nReceived: "
                             b"from client.example"), ours_j
    assert b"\nAuthentication-Results: %s;" % H.encode() in ours_j

    d = dovecot(alice)
    imap = None
    for _ in range(50):
        try:
            imap = imaplib.IMAP4("127.0.0.1", IMAP_PORT)
            break
        except OSError:
            time.sleep(0.1)
    assert imap is not None, d.log()
    try:
        assert imap.login("test", "secret")[0] == "OK"
        typ, data = imap.list()
        names = sorted(re.search(rb'"/" "?([^"]*)"?$', ln).group(1).decode()
                       for ln in data)
        assert typ == "OK" and names == ["INBOX", "Junk"], data

        typ, data = imap.select("INBOX", readonly=True)
        assert (typ, data[0]) == ("OK", b"1"), (typ, data)
        size, text = fetch(imap, 1)
        assert text == idata.replace(b"\n", b"\r\n") and size == len(text)
        ars = authres_fields(text)
        assert len(ars) == 1 and ars[0].startswith(
            "Authentication-Results: %s;" % H), ars
        assert "dkim=pass header.d=quar.example header.s=sel" in ars[0]
        assert "dmarc=pass (p=quarantine dis=none) header.from=" \
            "quar.example" in ars[0], ars[0]

        typ, data = imap.select("Junk", readonly=True)
        assert (typ, data[0]) == ("OK", b"1"), (typ, data)
        size, text = fetch(imap, 1)
        assert text == jdata.replace(b"\n", b"\r\n"), (text[:800], jdata[:800])
        assert size == len(text)
        assert text.startswith(b"Return-Path: <x@nospf.example>\r\n")
        ars = authres_fields(text)
        assert len(ars) == 2, ars
        assert ars[0].startswith("Authentication-Results: %s;" % H), ars
        assert "dkim=none" in ars[0] and \
            "dmarc=fail (p=quarantine dis=quarantine) header.from=" \
            "quar.example policy.dmarc=quarantine" in ars[0], ars[0]
        assert ars[1] == FOREIGN.rstrip("\r\n"), ars
        assert b"dmarc=pass" not in text
        assert text.endswith(b"Pay invoice 42.\r\n.leading dot\r\n")
        assert b"Subject: forgery\r\n" in text
        imap.logout()
    finally:
        try:
            imap.shutdown()
        except (OSError, AttributeError):
            pass

    m.stop()
    rows = e2elib.sqlite_rows(os.path.join(spool, "stats.db"),
                              "SELECT * FROM auth ORDER BY rowid")
    assert [(r["from_domain"], r["dmarc_result"], r["disposition"])
            for r in rows] == [("quar.example", "pass", "delivered"),
                               ("quar.example", "fail", "junk")], rows
    assert re.search(r"dkim=none dmarc=fail from_domain=quar\.example "
                     r"policy=quarantine disposition=quarantine "
                     r"action=junk", m.log()), m.log_tail()
    bad = [ln for ln in d.log().splitlines()
           if re.search(r"\b(Error|Panic|Fatal)\b|corrupt", ln)]
    assert not bad, bad
