"""Hardening on the disk side (issue 12), against a real strictmxd:

- a symlink planted at a recipient's new/, tmp/, or the maildir itself is
  not followed: the client gets 451 4.3.0, the log names the path, and
  nothing is written where the link points.
"""
import os

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
