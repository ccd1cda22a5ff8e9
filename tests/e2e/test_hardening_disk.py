"""Hardening on the disk side (issue 12), against a real strictmxd:

- a symlink planted at a recipient's new/, tmp/, or the maildir itself is
  not followed: the client gets 451 4.3.0, the log names the path, and
  nothing is written where the link points;
- started as root with `user nobody`, the daemon keeps no capability
  (CapEff, CapPrm of /proc/PID/status), writes maildir files 0600 and
  directories 0700, and its stats db (with -wal/-shm) is not readable by
  others.
"""
import os
import pwd
import shutil
import stat
import tempfile

import pytest



def transaction_code(m, rcpt, text=b"Subject: s\r\n\r\nhello\r\n"):
    """MAIL, RCPT, DATA: the reply that ends the transaction."""
    with m.connect() as c:
        c.cmd("EHLO client.example", 250)
        c.cmd("MAIL FROM:<s@sender.example>", 250)
        c.cmd("RCPT TO:<%s>" % rcpt, 250)
        r = c.cmd("DATA")
        if r.code == 354:
            c.send(text)
            c.send(b".\r\n")
            r = c.read_reply()
        c.cmd("QUIT", 221)
    return r


def files_below(path):
    out = []
    for root, _dirs, files in os.walk(path):
        out.extend(os.path.join(root, f) for f in files)
    return out


@pytest.mark.parametrize("where", ["new", "tmp", "."])
def test_symlink_in_maildir_refused(mx, tmp_path, where):
    """Issue 12: a symlink at alice/new, alice/tmp or alice itself."""
    m = mx()
    elsewhere = tmp_path / "elsewhere"
    for sub in ("", "tmp", "new", "cur"):
        os.makedirs(str(elsewhere / sub), exist_ok=True)
    alice = os.path.join(m.maildir_root, "alice")
    if where == ".":
        os.symlink(str(elsewhere), alice)
        planted = alice
    else:
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(alice, sub), 0o700, exist_ok=True)
        planted = os.path.join(alice, where)
        os.rmdir(planted)
        os.symlink(str(elsewhere / where), planted)
    r = transaction_code(m, "alice@test.example")
    assert r.code == 451 and "4.3.0" in r.text, r
    m.wait_log(r"maildir: %s is a symbolic link" % planted.replace(
        ".", r"\."))
    assert files_below(str(elsewhere)) == []
    # bob's maildir still works: the refusal is only about alice
    r = transaction_code(m, "bob@test.example")
    assert r.code == 250, r
    assert len(m.maildir("bob").new) == 1


def _real_root():
    with open("/proc/self/uid_map") as f:
        return f.read().split() == ["0", "0", "4294967295"]


def test_privileges_and_modes(mx):
    """Issue 12: no capability left after the drop to `user`; private
    modes on what the daemon writes."""
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    if not _real_root():
        pytest.skip("not real root: cannot switch to nobody")
    spool = tempfile.mkdtemp(prefix="strictmx-e2e-")
    try:
        os.chmod(spool, 0o755)
        os.chown(spool, nobody.pw_uid, nobody.pw_gid)
        mail = os.path.join(spool, "mail")
        os.mkdir(mail, 0o700)
        os.chown(mail, nobody.pw_uid, nobody.pw_gid)
        db = os.path.join(spool, "stats.db")
        m = mx(user="nobody", maildir_root=mail, stats_db=db)
        caps = {}
        with open("/proc/%d/status" % m.pid) as f:
            for ln in f:
                k, _, v = ln.partition(":")
                if k.startswith("Cap"):
                    caps[k] = int(v.strip(), 16)
        assert caps["CapEff"] == 0 and caps["CapPrm"] == 0, caps
        assert caps["CapAmb"] == 0, caps
        r = transaction_code(m, "alice@test.example")
        assert r.code == 250, r
        r = transaction_code(m, "carol@test.example")
        assert r.code == 250, r
        for root, dirs, files in os.walk(mail):
            for d in dirs:
                mode = stat.S_IMODE(os.lstat(os.path.join(root, d)).st_mode)
                assert mode == 0o700, (os.path.join(root, d), oct(mode))
            for fn in files:
                mode = stat.S_IMODE(os.lstat(os.path.join(root, fn)).st_mode)
                assert mode == 0o600, (os.path.join(root, fn), oct(mode))
        dbs = [p for p in (db, db + "-wal", db + "-shm")
               if os.path.exists(p)]
        assert db in dbs, os.listdir(spool)
        for p in dbs:
            mode = stat.S_IMODE(os.stat(p).st_mode)
            assert mode & 0o077 == 0, (p, oct(mode))
        m.stop()
    finally:
        shutil.rmtree(spool, ignore_errors=True)
