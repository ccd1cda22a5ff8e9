#!/usr/bin/env python3
"""imap_check.py - run by tests/dovecot/run.sh inside its namespace, with
Dovecot listening on 127.0.0.1:1143: deliver with maildir_deliver (as the
mail user), then read the mailboxes over IMAP (imaplib) and compare.

usage: imap_check.py MAILDIR_DELIVER DOVECOT TMPDIR UID GID

Messages: a small and a large one (past the 64 KiB write buffer: the
worker's rewrite) into ".Junk" with a prepended header block, one into the
inbox, one into ".Junk.Old". Checks: LIST shows Junk (and Junk/Old), SELECT
counts, FETCH BODY.PEEK[] equals the delivered bytes (LF made CRLF, as IMAP
must), RFC822.SIZE agrees with the ",S=" size, and Dovecot logged no error.
Prints TAP lines and a last line "N passed, M failed"."""
import imaplib
import os
import re
import subprocess
import sys
import time

deliver, dovecot, tmp = sys.argv[1], sys.argv[2], sys.argv[3]
uid, gid = int(sys.argv[4]), int(sys.argv[5])
maildir = os.path.join(tmp, "home", "Maildir")
results = []


def check(ok, what):
    results.append(bool(ok))
    print(("ok" if ok else "not ok"), len(results), "-", what, flush=True)
    return ok


def as_user():
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def body(size, tag):
    """A message of about size octets, LF line ends, lines of 72."""
    head = (f"From: <quarantined@example.org>\nTo: <test@example.net>\n"
            f"Subject: {tag}\nMessage-ID: <{tag}@example.org>\n\n")
    line = (tag * 80)[:71] + "\n"
    n = max(1, (size - len(head)) // len(line))
    return (head + line * n).encode()


def run_deliver(msg, folder=None, prepend=None):
    args = [deliver]
    if folder:
        args += ["-f", folder]
    if prepend is not None:
        pf = os.path.join(tmp, "prepend")
        with open(pf, "wb") as f:
            f.write(prepend)
        os.chmod(pf, 0o644)
        args += ["-p", pf]
    args += ["mx.test.example", maildir]
    p = subprocess.run(args, input=msg, capture_output=True,
                       preexec_fn=as_user, timeout=60)
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode(errors="replace"))
    return p.returncode == 0


def crlf(b):
    return b.replace(b"\n", b"\r\n")


def fetch(imap, num):
    typ, data = imap.fetch(str(num), "(RFC822.SIZE BODY.PEEK[])")
    if typ != "OK" or not data or not isinstance(data[0], tuple):
        return None, None
    m = re.search(rb"RFC822\.SIZE (\d+)", data[0][0])
    return (int(m.group(1)) if m else None), data[0][1]


pre = (b"Return-Path: <quarantined@example.org>\n"
       b"Received: from mail.example.org (mail.example.org [192.0.2.1])\n"
       b"\tby mx.test.example with ESMTP id X; Sun, 6 Dec 2026 19:00:00 +0000\n"
       b"Authentication-Results: mx.test.example; spf=pass; dkim=fail;\n"
       b"\tdmarc=fail (p=quarantine) header.from=example.org\n")
small, large = body(2000, "small"), body(300000, "large")
inbox, old = body(500, "inbox"), body(800, "old")

# Delivery: the maildir does not exist yet; maildir.c makes all of it.
os.makedirs(maildir, exist_ok=True)
os.chown(maildir, uid, gid)
os.chmod(maildir, 0o700)
check(run_deliver(small, ".Junk", pre), "deliver small, prepended, to .Junk")
check(run_deliver(large, ".Junk", pre), "deliver 300 KB, prepended, to .Junk")
check(run_deliver(inbox), "deliver one to the inbox")
check(run_deliver(old, ".Junk.Old", pre), "deliver one to .Junk.Old")
check(os.path.isfile(os.path.join(maildir, ".Junk", "maildirfolder")),
      ".Junk/maildirfolder exists")
sizes = [None, None]
names = sorted(os.listdir(os.path.join(maildir, ".Junk", "new")))
for i, n in enumerate(names[:2]):
    m = re.search(r",S=(\d+)$", n)
    sizes[i] = int(m.group(1)) if m else None
check(sorted(s for s in sizes if s) == sorted([len(pre) + len(small),
                                               len(pre) + len(large)]),
      f".Junk/new: S= sizes are the file sizes ({sizes})")

imap = None
for _ in range(50):
    try:
        imap = imaplib.IMAP4("127.0.0.1", 1143)
        break
    except OSError:
        time.sleep(0.1)
ok = imap is not None
if ok:
    try:
        ok = imap.login("test", "secret")[0] == "OK"
    except imaplib.IMAP4.error as e:
        sys.stderr.write(f"login: {e}\n")
        ok = False
if check(ok, "IMAP LOGIN to Dovecot on 127.0.0.1:1143"):
    typ, data = imap.list()
    names = []
    for line in data or []:
        m = re.search(rb'"/" "?([^"]*)"?$', line or b"")
        if m:
            names.append(m.group(1).decode())
    check(typ == "OK" and "Junk" in names, f"LIST shows Junk ({names})")
    check("Junk/Old" in names, "LIST shows Junk/Old (Maildir++ .Junk.Old)")

    typ, data = imap.select("Junk", readonly=True)
    check(typ == "OK" and data[0] == b"2", f"SELECT Junk: 2 messages ({data})")
    got = {}
    for num in (1, 2):
        size, text = fetch(imap, num)
        if text is not None:
            got[b"small" if b"Subject: small" in text else b"large"] = \
                (size, text)
    for tag, msg in ((b"small", small), (b"large", large)):
        size, text = got.get(tag, (None, None))
        want = crlf(pre + msg)
        check(text == want, f"FETCH {tag.decode()}: exact bytes, "
              f"prepended header first ({len(text or b'')} of {len(want)})")
        check(size == len(want), f"RFC822.SIZE {tag.decode()} = {size}")
    check(got.get(b"small", (0, b""))[1].startswith(b"Return-Path: "),
          "the first line is the prepended Return-Path")

    typ, data = imap.select("INBOX", readonly=True)
    check(typ == "OK" and data[0] == b"1", f"SELECT INBOX: 1 message ({data})")
    size, text = fetch(imap, 1)
    check(text == crlf(inbox), "FETCH INBOX 1: exact bytes")

    typ, data = imap.select("Junk/Old", readonly=True)
    check(typ == "OK" and data[0] == b"1", f"SELECT Junk/Old: 1 ({data})")
    size, text = fetch(imap, 1)
    check(text == crlf(pre + old), "FETCH Junk/Old 1: exact bytes")
    imap.logout()

log = ""
try:
    with open(os.path.join(tmp, "dovecot.log"), errors="replace") as f:
        log = f.read()
except OSError:
    pass
bad = [ln for ln in log.splitlines()
       if re.search(r"\b(Error|Panic|Fatal)\b|corrupt", ln)]
check(not bad, "Dovecot logged no error" + ("".join("\n# " + b for b in bad)))

p, f = results.count(True), results.count(False)
print(f"{p} passed, {f} failed")
sys.exit(1 if f else 0)
