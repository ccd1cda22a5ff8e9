# test_dkim_hostile.py - hostile end-to-end tests of the DKIM and DMARC
# path (issue 9 item 6, DESIGN §8): the real strictmxd (built with ASan and
# UBSan in CI's hostile job) against dnsmasq, messages signed by dkimpy or
# made by hand, a raw SMTP client. Every test checks the reply to the dot,
# the per-message log line, the auth row, what is on disk, and how long the
# daemon took (bounded); the mx fixture checks at teardown that the daemon
# exits 0 after SIGTERM with no sanitizer report and nothing left in tmp/.
#
#   many signatures (only dkim_max_signatures verified, no lookups for the
#     rest), a 16384-bit key (its TXT record cannot fit a 1232-octet EDNS0
#     answer: temperror), a 4096-bit key in several strings (pass), h= of
#     128 and 129 and thousands of names, a header section near and past
#     MSGHDR_MAX and a message past max_message_size, bad base64 in b= and
#     p=, key records split into 1..255-octet strings, keys and policies
#     that never resolve (resolver_timeout and the 10 s bounds), clients
#     that vanish after the dot while lookups are pending, and forged
#     Authentication-Results claiming our authserv-id.
#
# 127.0.0.20 is a stranger with no SPF anywhere; names below hang.example
# and _domainkey.keyhang.example never get an answer.

import base64
import os
import re
import socket
import subprocess
import time

import dkim
import dns.message
import dns.query
import pytest

import e2elib
from e2elib import wait_until

SRC = "127.0.0.20"
HANG = "hang.example"
KEYHANG = "_domainkey.keyhang.example"
H = e2elib.HOSTNAME
POLICIES = dict(spf_policy="off", dkim_verify="yes", dmarc_policy="enforce")
MSGHDR_MAX = 256 * 1024
NSIG = 40                       # signatures on the many-signature message


# ---------------------------------------------------------------------------
# keys (module scope: the 16384-bit one takes minutes to make)

def _genrsa(d, bits):
    """An RSA key made by openssl in d, or taken from the directory named
    by $STRICTMX_E2E_KEYCACHE (made there once when missing): the
    16384-bit key takes one to several minutes."""
    cache = os.environ.get("STRICTMX_E2E_KEYCACHE")
    if cache:
        os.makedirs(cache, exist_ok=True)
        d = cache
    priv = os.path.join(str(d), "k%d.pem" % bits)
    if not os.path.exists(priv):
        subprocess.run(["openssl", "genrsa", "-out", priv + ".new",
                        str(bits)], check=True, capture_output=True,
                       timeout=1800)
        os.rename(priv + ".new", priv)
    der = subprocess.run(["openssl", "rsa", "-in", priv, "-pubout",
                          "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return open(priv, "rb").read(), base64.b64encode(der).decode()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """{bits: (private PEM, base64 of the DER public key)} for 1024, 2048
    (a second key: signatures that do not verify), 4096 and 16384."""
    d = tmp_path_factory.mktemp("keys")
    out = {b: _genrsa(d, b) for b in (1024, 2048, 4096)}
    t0 = time.monotonic()
    out[16384] = _genrsa(d, 16384)
    print("16384-bit key made in %.0f s" % (time.monotonic() - t0))
    return out


def keyrec(pub):
    return "v=DKIM1; k=rsa; p=" + pub


def chunks(s, sizes):
    """s cut into strings of the given sizes (cycled), comma-joined for
    dnsmasq's --txt-record (one DNS character-string each)."""
    out, i, k = [], 0, 0
    while i < len(s):
        n = sizes[k % len(sizes)]
        out.append(s[i:i + n])
        i += n
        k += 1
    return out


# ---------------------------------------------------------------------------
# zone

def zone(keys):
    k1 = keyrec(keys[1024][1])
    k1tight = k1.replace(" ", "")     # no WSP: every split is sane
    recs = [
        ("TXT", "_dmarc.reject.example", "v=DMARC1; p=reject"),
        ("TXT", "_dmarc.none.example", "v=DMARC1; p=none"),
        ("TXT", "_dmarc.quar.example", "v=DMARC1; p=quarantine"),
        ("TXT", "_dmarc.many.example", "v=DMARC1; p=reject"),
        ("TXT", "_dmarc.big.example", "v=DMARC1; p=none"),
        ("TXT", "_dmarc.keyhang.example", "v=DMARC1; p=reject"),
        ("TXT", "sel._domainkey.reject.example", k1),
        ("TXT", "sel._domainkey.none.example", k1),
        ("TXT", "sel._domainkey.quar.example", k1),
        # 4096 bits: 736 characters, over three strings of odd sizes
        ("TXT", "k4096._domainkey.big.example",
         ",".join(chunks(keyrec(keys[4096][1]), [200, 255, 31]))),
        # 16384 bits: 2760 characters, no 1232-octet answer holds it
        ("TXT", "k16384._domainkey.big.example", keyrec(keys[16384][1])),
        # malformed keys
        ("TXT", "badb64._domainkey.none.example",
         "v=DKIM1; k=rsa; p=MIGfMA0G!!!not*base64"),
        ("TXT", "notrsa._domainkey.none.example",
         "v=DKIM1; k=rsa; p=" + base64.b64encode(b"\x30\x03\x02\x01\x00"
                                                 * 40).decode()),
    ]
    for i in range(NSIG):
        recs.append(("TXT", "s%d._domainkey.many.example" % i, k1))
    # the same key split into strings of 1 octet, of 1..7, and around '='
    recs.append(("TXT", "split1._domainkey.none.example",
                 ",".join(k1tight)))
    recs.append(("TXT", "split7._domainkey.none.example",
                 ",".join(chunks(k1tight, [1, 2, 3, 4, 5, 6, 7]))))
    p = k1tight.index("p=")
    recs.append(("TXT", "splitp._domainkey.none.example",
                 ",".join([k1tight[:p + 1], k1tight[p + 1:p + 2],
                           k1tight[p + 2:p + 100], k1tight[p + 100:]])))
    return recs


@pytest.fixture
def z(dns, keys):
    return dns(zone(keys), timeout=[HANG, KEYHANG])


def txt_strings(name):
    """The character-strings of the TXT answer as dnsmasq serves them over
    UDP with a 1232-octet EDNS0 size (what strictmx asks): ([strings] of
    the first record, truncated?)."""
    q = dns.message.make_query(name, "TXT", use_edns=0, payload=1232)
    r = dns.query.udp(q, "127.0.0.1", timeout=2, ignore_trailing=True)
    tc = bool(r.flags & dns.flags.TC)
    for rrset in r.answer:
        for rd in rrset:
            return [s.decode() for s in rd.strings], tc
    return [], tc


# ---------------------------------------------------------------------------
# messages

def message(frm, subject="hostile", body="hello\r\n", extra="", top=""):
    return ("%sFrom: %s\r\nTo: alice@test.example\r\nSubject: %s\r\n"
            "Date: Sun, 06 Dec 2026 12:00:00 +0000\r\n"
            "Message-ID: <h%d@%s>\r\n%s\r\n%s"
            % (top, frm, subject, time.monotonic_ns(), H, extra,
               body)).encode()


SIGNED = [b"from", b"to", b"subject", b"date"]


def signature(msg, domain, selector, priv, headers=SIGNED, **kw):
    """The DKIM-Signature field (CRLF-ended, folded) dkimpy makes."""
    return dkim.sign(msg, selector.encode(), domain.encode(), priv,
                     include_headers=headers, **kw)


def b8(sig):
    """header.b as strictmx writes it (RFC 6008; quoted if it has '/')."""
    v = re.sub(rb"\s", b"", sig)
    v = re.search(rb";b=([A-Za-z0-9+/]{8})", v).group(1).decode()
    return '"%s"' % v if "/" in v else v


# ---------------------------------------------------------------------------
# the client side

class Sent:
    def __init__(self, reply, elapsed):
        self.reply, self.elapsed = reply, elapsed

    @property
    def code(self):
        return self.reply.code


def send(m, msg, mailfrom="x@nospf.example", src=SRC, timeout=60):
    """One transaction; the reply to the dot and the seconds from the dot
    to that reply."""
    with m.connect(src=src) as c:
        c.cmd("EHLO client.example", 250)
        c.cmd("MAIL FROM:<%s>" % mailfrom, 250, timeout=30)
        c.cmd("RCPT TO:<alice@test.example>", 250)
        c.cmd("DATA", 354)
        data = msg.replace(b"\r\n.", b"\r\n..")
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        c.send(data, timeout=60)
        t0 = time.monotonic()
        c.send(b".\r\n")
        r = c.read_reply(timeout=timeout)
        dt = time.monotonic() - t0
        c.cmd("QUIT", 221)
    return Sent(r, dt)


def delivered(m):
    """{'new/NAME' or '.Junk/new/NAME': bytes} in alice's maildir."""
    out = {}
    for folder in ("", ".Junk"):
        for sub in ("new", "cur"):
            p = os.path.join(m.maildir_root, "alice", folder, sub)
            if os.path.isdir(p):
                for n in os.listdir(p):
                    with open(os.path.join(p, n), "rb") as f:
                        out[os.path.join(folder, sub, n)] = f.read()
    return out


def our_authres(data):
    """Every Authentication-Results field of the header section, unfolded
    (ours first: we prepend it)."""
    head = data.split(b"\n\n", 1)[0] + b"\n"
    out = []
    for mm in re.finditer(rb"^Authentication-Results:.*?\n(?![ \t])", head,
                          re.S | re.M | re.I):
        out.append(re.sub(rb"\n[ \t]", b" ", mm.group(0)).decode(
            "utf-8", "replace").rstrip("\n"))
    return out


def dkim_results(ar):
    """[(result, comment or None, header.s)] of the dkim entries of ar."""
    out = []
    for mm in re.finditer(r"dkim=(\w+)(?: \(([^)]*)\))?"
                          r"(?: header\.d=(\S+?))?(?: header\.s=(\S+?))?"
                          r"(?: header\.b=\S+?)?(?:;|$)", ar):
        out.append((mm.group(1), mm.group(2), mm.group(4)))
    return out


LOGLINE = re.compile(r"session=(\S+) client=(\S+) dkim=(\S+) dmarc=(\S+) "
                     r"from_domain=(\S*) policy=(\S+) disposition=(\S+) "
                     r"action=(\S+)")


def log_lines(m):
    """The per-message DKIM/DMARC log lines, as dicts."""
    keys = ("session", "client", "dkim", "dmarc", "from_domain", "policy",
            "disposition", "action")
    return [dict(zip(keys, mm.groups())) for mm in LOGLINE.finditer(m.log())]


def last_log(m):
    """The last per-message DKIM/DMARC log line (it must exist)."""
    got = log_lines(m)
    assert got, "no dkim/dmarc log line\n" + m.log_tail(30)
    return got[-1]


def alive(m):
    """The daemon still answers a fresh client."""
    assert m.running(), m.log_tail()
    with m.connect() as c:
        c.cmd("EHLO alive.example", 250)
        c.cmd("NOOP", 250)
        c.cmd("QUIT", 221)


def rows(m):
    """Stop the daemon (it writes its statistics) and read the auth rows."""
    alive(m)
    m.stop()
    assert not m.sanitizer_reports(), m.log_tail(60)
    return e2elib.sqlite_rows(m.stats_db, "SELECT * FROM auth ORDER BY rowid")


def nothing_anywhere(m):
    assert delivered(m) == {}, delivered(m)
    assert m.tmp_files() == [], m.tmp_files()


# ---------------------------------------------------------------------------
# many signatures

def many_signed(keys, good):
    """A many.example message with NSIG signatures, top first: position i
    uses selector s<i>. Positions in good are valid; the others are made
    by another key (the signature does not verify)."""
    msg = message("Ann <ann@many.example>", subject="forty signatures")
    sigs = []
    for i in range(NSIG):
        priv = keys[1024][0] if i in good else keys[2048][0]
        sigs.append(signature(msg, "many.example", "s%d" % i, priv))
    return b"".join(sigs) + msg


@pytest.mark.parametrize("maxsig", [5, 16])
def test_many_signatures_only_max_verified(z, mx, keys, maxsig):
    """40 signatures, valid at positions 1 and 3 only: the first maxsig are
    verified (pass at 1 and 3, fail elsewhere), the rest of the first 16
    are neutral without a key lookup, the last 24 are not even listed."""
    m = mx(dkim_max_signatures=str(maxsig), **POLICIES)
    msg = many_signed(keys, good={1, 3})
    s = send(m, msg)
    assert s.code == 250, s.reply
    assert s.elapsed < 10, s.elapsed
    (name, data), = delivered(m).items()
    assert name.startswith("new/")
    ar = our_authres(data)[0]
    assert ar.startswith("Authentication-Results: %s;" % H), ar
    got = dkim_results(ar)
    want = [("pass" if i in (1, 3) else "fail",
             None if i in (1, 3) else "signature did not verify", "s%d" % i)
            for i in range(maxsig)]
    want += [("neutral", "beyond dkim_max_signatures", "s%d" % i)
             for i in range(maxsig, 16)]
    assert got == want, ar
    assert "dmarc=pass" in ar
    # no key lookup beyond the first maxsig (dnsmasq logs every query)
    asked = set(re.findall(r"query\[TXT\] (s\d+)\._domainkey\.many\.example",
                           z.log()))
    assert asked == {"s%d" % i for i in range(maxsig)}, sorted(asked)
    ln = last_log(m)
    assert ln["dkim"].split(",")[:4] == ["fail:many.example",
                                         "pass:many.example",
                                         "fail:many.example",
                                         "pass:many.example"], ln
    assert (ln["dmarc"], ln["action"]) == ("pass", "deliver"), ln
    row = rows(m)[-1]
    entries = row["dkim"].split("; ")
    assert entries[:4] == ["fail d=many.example s=s0",
                           "pass d=many.example s=s1",
                           "fail d=many.example s=s2",
                           "pass d=many.example s=s3"], row["dkim"]
    assert all(e.startswith("neutral ") for e in entries[maxsig:]), entries
    assert (row["dmarc_result"], row["disposition"]) == ("pass",
                                                         "delivered")


def test_valid_signatures_past_the_limit_do_not_count(z, mx, keys):
    """The only valid signatures are below the first 5: they are neutral,
    DMARC fails, p=reject refuses."""
    m = mx(**POLICIES)
    s = send(m, many_signed(keys, good=set(range(5, NSIG))))
    assert s.code == 550 and s.reply.text.startswith("5.7.26"), s.reply
    assert s.elapsed < 10, s.elapsed
    nothing_anywhere(m)
    ln = last_log(m)
    assert ln["dkim"].split(",")[:6] == ["fail:many.example"] * 5 + \
        ["neutral:many.example"], ln
    assert (ln["dmarc"], ln["action"]) == ("fail", "refuse"), ln
    row = rows(m)[-1]
    assert (row["dmarc_result"], row["disposition"], row["reply_code"]) == \
        ("fail", "refused", 550)


# ---------------------------------------------------------------------------
# key sizes and TXT strings

def test_16384_bit_key_does_not_fit_an_edns0_answer(z, mx, keys):
    strings, tc = txt_strings("k16384._domainkey.big.example")
    assert tc and strings == [], "dnsmasq should truncate this answer"
    m = mx(**POLICIES)
    msg = message("a@big.example")
    sig = signature(msg, "big.example", "k16384", keys[16384][0])
    s = send(m, sig + msg)
    assert s.code == 250, s.reply
    assert s.elapsed < 10, s.elapsed
    (name, data), = delivered(m).items()
    ar = our_authres(data)[0]
    assert ("dkim=temperror (truncated DNS answer for the key) "
            "header.d=big.example header.s=k16384 header.b=%s;"
            % b8(sig)) in ar, ar
    assert "dmarc=fail (p=none dis=none)" in ar, ar
    assert re.search(r"resolver: \S+ k16384\._domainkey\.big\.example: "
                     r"truncated DNS answer", m.log()) or \
        "truncated DNS answer" in m.log(), m.log_tail()
    ln = last_log(m)
    assert (ln["dkim"], ln["dmarc"]) == ("temperror:big.example", "fail"), ln
    row = rows(m)[-1]
    assert row["dkim"] == "temperror d=big.example s=k16384", row


def test_4096_bit_key_in_several_strings_passes(z, mx, keys):
    strings, tc = txt_strings("k4096._domainkey.big.example")
    assert not tc and len(strings) >= 3 and \
        "".join(strings) == keyrec(keys[4096][1]), strings
    m = mx(**POLICIES)
    msg = message("a@big.example")
    sig = signature(msg, "big.example", "k4096", keys[4096][0],
                    canonicalize=(b"relaxed", b"relaxed"))
    s = send(m, sig + msg)
    assert s.code == 250, s.reply
    assert s.elapsed < 10, s.elapsed
    (name, data), = delivered(m).items()
    ar = our_authres(data)[0]
    assert ("dkim=pass header.d=big.example header.s=k4096 header.b=%s;"
            % b8(sig)) in ar, ar
    assert "dmarc=pass" in ar, ar
    assert last_log(m)["dkim"] == "pass:big.example"
    assert rows(m)[-1]["dkim"] == "pass d=big.example s=k4096"


@pytest.mark.parametrize("sel,nstrings", [("split1", 200), ("split7", 50),
                                          ("splitp", 4)])
def test_key_record_split_in_odd_places(z, mx, keys, sel, nstrings):
    """RFC 6376 §3.6.2.2: the strings of one TXT record are joined with
    nothing between them, wherever the publisher cut."""
    strings, tc = txt_strings(sel + "._domainkey.none.example")
    assert not tc and len(strings) >= nstrings, (len(strings), strings[:9])
    assert "".join(strings) == keyrec(keys[1024][1]).replace(" ", "")
    m = mx(**POLICIES)
    msg = message("a@none.example")
    sig = signature(msg, "none.example", sel, keys[1024][0])
    s = send(m, sig + msg)
    assert s.code == 250, s.reply
    assert s.elapsed < 10, s.elapsed
    ar = our_authres(list(delivered(m).values())[0])[0]
    assert "dkim=pass header.d=none.example header.s=%s " % sel in ar, ar
    assert rows(m)[-1]["dkim"] == "pass d=none.example s=%s" % sel


# ---------------------------------------------------------------------------
# h= lists, header section and message size

def hand_signature(domain, selector, h, b="dGVzdA==", extra=""):
    """A hand-made DKIM-Signature field (h= a list of names, folded every
    8 names so that no line passes 998 octets)."""
    names = [h[i:i + 8] for i in range(0, len(h), 8)]
    hval = ":\r\n\t".join(":".join(g) for g in names)
    return ("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
            "\td=%s; s=%s;%s\r\n\th=%s;\r\n"
            "\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRGm5MMpTgbAVAo3ak=;\r\n"
            "\tb=%s\r\n" % (domain, selector, extra, hval, b)).encode()


def test_h_list_of_128_names_passes_129_is_permerror(z, mx, keys):
    m = mx(**POLICIES)
    over = SIGNED + [("x-over-%d" % i).encode() for i in range(124)]
    assert len(over) == 128
    msg = message("a@none.example", subject="h128")
    sig = signature(msg, "none.example", "sel", keys[1024][0], headers=over)
    assert send(m, sig + msg).code == 250
    over.append(b"x-one-more")
    msg = message("a@none.example", subject="h129")
    sig = signature(msg, "none.example", "sel", keys[1024][0], headers=over)
    s = send(m, sig + msg)
    assert s.code == 250, s.reply
    got = {}
    for data in delivered(m).values():
        subj = re.search(rb"^Subject: (\S+)", data, re.M).group(1)
        got[subj] = our_authres(data)[0]
    assert "dkim=pass header.d=none.example" in got[b"h128"], got[b"h128"]
    assert "dkim=permerror (more than 128 names in h=) header.d=none." \
        "example" in got[b"h129"], got[b"h129"]
    assert [r["dkim"] for r in rows(m)] == [
        "pass d=none.example s=sel", "permerror d=none.example s=sel"]


def test_giant_h_list_is_permerror_in_bounded_time(z, mx):
    """5000 names in h= (a 60 KB field) on a p=reject domain: permerror,
    so DMARC fails and the message is refused, quickly; no key lookup is
    even needed."""
    m = mx(**POLICIES)
    h = ["from"] + ["x-name-%04d" % i for i in range(5000)]
    msg = hand_signature("reject.example", "sel", h) + \
        message("a@reject.example")
    assert len(msg) > 60000
    s = send(m, msg)
    assert s.code == 550 and s.reply.text.startswith("5.7.26"), s.reply
    assert s.elapsed < 5, s.elapsed
    nothing_anywhere(m)
    ln = last_log(m)
    assert (ln["dkim"], ln["dmarc"], ln["action"]) == (
        "permerror:reject.example", "fail", "refuse"), ln
    row = rows(m)[-1]
    assert (row["dkim"], row["disposition"], row["reply_code"]) == (
        "permerror d=reject.example s=sel", "refused", 550)


def fillers(octets):
    """Header fields of about octets (counted with LF ends, as stored)."""
    line = "X-Filler-%06d: " + "f" * 60 + "\r\n"
    n = octets // (len(line % 0) - 1)
    return "".join(line % i for i in range(n))


def test_header_section_near_msghdr_max_verifies(z, mx, keys):
    m = mx(**POLICIES)
    msg = message("a@reject.example", extra=fillers(MSGHDR_MAX - 8192))
    sig = signature(msg, "reject.example", "sel", keys[1024][0])
    whole = sig + msg
    head = whole.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n")
    assert MSGHDR_MAX - 10000 < len(head) + 2 < MSGHDR_MAX, len(head)
    s = send(m, whole)
    assert s.code == 250, s.reply
    assert s.elapsed < 10, s.elapsed
    (name, data), = delivered(m).items()
    assert name.startswith("new/")
    ar = our_authres(data)[0]
    assert "dkim=pass header.d=reject.example" in ar and \
        "dmarc=pass" in ar, ar
    assert rows(m)[-1]["dkim"] == "pass d=reject.example s=sel"


def test_header_section_past_msghdr_max_is_permerror(z, mx, keys):
    """Past 256 KiB the capture stops: every signature is permerror and
    DMARC cannot read From: (permerror). Under dmarc_policy enforce such a
    message is refused (552 5.3.4: it cannot be authenticated, see the
    next test); in log mode it is delivered with those clean verdicts."""
    msg = message("a@none.example", extra=fillers(MSGHDR_MAX + 8192))
    sig = signature(msg, "none.example", "sel", keys[1024][0])
    m = mx(**POLICIES)
    s = send(m, sig + msg)
    assert s.code == 552, s.reply
    assert delivered(m) == {}
    row = rows(m)[-1]
    assert (row["dkim"], row["dmarc_result"], row["disposition"],
            row["reply_code"]) == ("permerror d=none.example s=sel",
                                   "permerror", "refused", 552), row
    m = mx(**dict(POLICIES, dmarc_policy="log"))
    s = send(m, sig + msg)
    assert s.code == 250, s.reply
    assert s.elapsed < 10, s.elapsed
    (name, data), = delivered(m).items()
    ar = our_authres(data)[0]
    assert "dkim=permerror (header section too large) header.d=none." \
        "example" in ar, ar
    assert "dmarc=permerror" in ar, ar
    ln = last_log(m)
    assert (ln["dkim"], ln["dmarc"], ln["from_domain"], ln["action"]) == (
        "permerror:none.example", "permerror", "", "refuse"), ln
    row = rows(m)[-1]
    assert (row["dkim"], row["dmarc_result"], row["disposition"]) == (
        "permerror d=none.example s=sel", "permerror", "delivered"), row


def test_padding_the_header_does_not_launder_a_reject_forgery(z, mx):
    """From: a p=reject domain at the top, then 264 KiB of filler fields:
    a header section too large to hold whole cannot be authenticated, and
    is refused (552 5.3.4, as Exim's header_maxsize) rather than let a
    forgery escape p=reject."""
    m = mx(**POLICIES)
    s = send(m, message("ceo@reject.example",
                        extra=fillers(MSGHDR_MAX + 8192)))
    assert s.elapsed < 10, s.elapsed
    assert s.code == 552 and s.reply.text.startswith("5.3.4 Header "
                                                     "section over"), s.reply
    assert delivered(m) == {}


def test_message_past_max_message_size_is_552(z, mx, keys):
    """A 300 KiB header section and a body past max_message_size: 552
    after the dot, nothing on disk, a refused row; the session goes on."""
    m = mx(max_message_size="1M", **POLICIES)
    msg = message("a@reject.example", extra=fillers(300 * 1024),
                  body=("b" * 76 + "\r\n") * 20000)
    sig = signature(msg, "reject.example", "sel", keys[1024][0])
    s = send(m, sig + msg)
    assert s.code == 552 and s.reply.text.startswith("5.3.4"), s.reply
    assert s.elapsed < 10, s.elapsed
    nothing_anywhere(m)
    wait_until(lambda: re.search(r'refused client=127\.0\.0\.20 .*cmd="DATA"'
                                 r' code=552', m.log()), 5)
    row = rows(m)[-1]
    assert (row["disposition"], row["reply_code"]) == ("refused", 552), row


# ---------------------------------------------------------------------------
# malformed base64

@pytest.mark.parametrize("b,why", [
    ("AAAA$$$$BBBB", "b= is not base64 or too long"),
    ("A", "b= is not base64 or too long"),
    ("QUJD=QUJD", "b= is not base64 or too long"),
    ("QUJD" * 800, "b= is not base64 or too long"),    # 2400 octets
], ids=["dollars", "one-char", "pad-inside", "2400-octets"])
def test_malformed_b_is_permerror(z, mx, b, why):
    """On a p=none domain (delivered, so the A-R comment shows the reason);
    no key is even fetched for a signature that does not parse."""
    m = mx(**POLICIES)
    body = "\r\n\t".join(b[i:i + 70] for i in range(0, len(b), 70))
    msg = hand_signature("none.example", "sel", ["from", "to"], b=body) \
        + message("a@none.example")
    s = send(m, msg)
    assert s.code == 250, s.reply
    assert s.elapsed < 5, s.elapsed
    ar = our_authres(list(delivered(m).values())[0])[0]
    assert "dkim=permerror (%s) header.d=none.example header.s=sel" % why \
        in ar, ar
    ln = last_log(m)
    assert (ln["dkim"], ln["dmarc"]) == ("permerror:none.example",
                                         "fail"), ln
    row = rows(m)[-1]
    assert row["dkim"] == "permerror d=none.example s=sel", row
    assert not re.search(r"query\[TXT\] sel\._domainkey", z.log())


def test_malformed_b_on_a_reject_domain_is_550(z, mx):
    m = mx(**POLICIES)
    msg = hand_signature("reject.example", "sel", ["from"], b="AAAA$$$$") \
        + message("a@reject.example")
    s = send(m, msg)
    assert s.code == 550 and s.reply.text.startswith("5.7.26"), s.reply
    nothing_anywhere(m)
    assert last_log(m)["dkim"] == "permerror:reject.example"
    assert rows(m)[-1]["dkim"] == "permerror d=reject.example s=sel"


@pytest.mark.parametrize("sel,why", [
    ("badb64", "key p= is not base64 or too long"),
    ("notrsa", "key p= is not an RSA public key"),
], ids=["badb64", "notrsa"])
def test_malformed_key_is_permerror(z, mx, keys, sel, why):
    m = mx(**POLICIES)
    msg = message("a@none.example")
    sig = signature(msg, "none.example", sel, keys[1024][0])
    s = send(m, sig + msg)
    assert s.code == 250, s.reply
    assert s.elapsed < 5, s.elapsed
    ar = our_authres(list(delivered(m).values())[0])[0]
    assert "dkim=permerror (%s) header.d=none.example header.s=%s " % (
        why, sel) in ar, ar
    assert last_log(m)["dkim"] == "permerror:none.example"
    assert rows(m)[-1]["dkim"] == "permerror d=none.example s=%s" % sel


# ---------------------------------------------------------------------------
# keys and policies that never resolve

def test_key_and_policy_never_answer_451_fast(z, mx, keys):
    """resolver_timeout 1s: the key lookup fails after a second
    (temperror), the DMARC record too: nothing aligns, so 451 4.7.24."""
    m = mx(resolver_timeout="1s", **POLICIES)
    msg = message("a@" + HANG)
    sig = signature(msg, HANG, "sel", keys[1024][0])
    s = send(m, sig + msg)
    assert s.code == 451 and s.reply.text.startswith("4.7.24"), s.reply
    assert s.elapsed < 6, s.elapsed
    nothing_anywhere(m)
    ln = last_log(m)
    assert (ln["dkim"], ln["dmarc"], ln["action"]) == (
        "temperror:" + HANG, "temperror", "tempfail"), ln
    row = rows(m)[-1]
    assert (row["dkim"], row["dmarc_result"], row["disposition"],
            row["reply_code"]) == ("temperror d=%s s=sel" % HANG,
                                   "temperror", "refused", 451), row


def test_never_answering_dns_is_bounded_by_the_10s_deadlines(z, mx, keys):
    """resolver_timeout 60s: only msgauth's own bounds end the wait, 10 s
    for the keys after the dot, then 10 s for the DMARC record."""
    m = mx(resolver_timeout="60s", **POLICIES)
    msg = message("a@" + HANG)
    sig = signature(msg, HANG, "sel", keys[1024][0])
    s = send(m, sig + msg, timeout=40)
    assert s.code == 451 and s.reply.text.startswith("4.7.24"), s.reply
    assert 19 <= s.elapsed < 26, s.elapsed
    nothing_anywhere(m)
    ln = last_log(m)
    assert (ln["dkim"], ln["dmarc"]) == ("temperror:" + HANG,
                                         "temperror"), ln
    row = rows(m)[-1]
    assert (row["dkim"], row["reply_code"]) == (
        "temperror d=%s s=sel" % HANG, 451), row


def test_key_never_answers_under_p_reject_is_451(z, mx, keys):
    """The key of an aligned signature never resolves, the p=reject record
    does: the message may be genuine, the sender's DNS is slow. Nothing
    aligned passed only for want of an answer: try again later (451
    4.7.24), not a permanent 550 (RFC 6376 §6.1.2: temperror; DESIGN §8:
    451 when the message would otherwise be refused for want of DNS)."""
    m = mx(resolver_timeout="1s", **POLICIES)
    msg = message("a@keyhang.example")
    sig = signature(msg, "keyhang.example", "sel", keys[1024][0])
    s = send(m, sig + msg)
    assert s.elapsed < 6, s.elapsed
    nothing_anywhere(m)
    ln = last_log(m)
    assert ln["dkim"] == "temperror:keyhang.example", ln
    assert s.code == 451 and s.reply.text.startswith("4.7.24"), s.reply


# ---------------------------------------------------------------------------
# clients that vanish after the dot

def dot_then(m, msg, how):
    """Send the message and the dot, then close (how='close') or half-close
    (how='shutdown'); returns the client."""
    c = m.connect(src=SRC)
    c.cmd("EHLO client.example", 250)
    c.cmd("MAIL FROM:<x@nospf.example>", 250)
    c.cmd("RCPT TO:<alice@test.example>", 250)
    c.cmd("DATA", 354)
    c.send(msg + b".\r\n")
    if how == "close":
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          b"\1\0\0\0\0\0\0\0")      # RST: gone at once
        c.close()
    else:
        c.sock.shutdown(socket.SHUT_WR)
    return c


def test_disconnect_while_key_lookups_pending(z, mx, keys):
    """Five clients reset their connection right after the dot while the
    key lookups (and later the DMARC record) hang: each session ends at
    once, nothing is delivered, no callback fires after the 10 s bound
    into a freed session (ASan), and the daemon serves the next client."""
    m = mx(resolver_timeout="60s", **POLICIES)
    msg = message("a@" + HANG)
    msg = signature(msg, HANG, "sel", keys[1024][0]) + msg
    t0 = time.monotonic()
    for _ in range(5):
        dot_then(m, msg, "close")
    wait_until(lambda: len(re.findall(r"disconnect client=127\.0\.0\.20 ",
                                      m.log())) >= 5, 5,
               what="5 disconnect lines")
    assert time.monotonic() - t0 < 5
    # past both deadlines: any late timer would hit a freed session
    time.sleep(max(0, 21 - (time.monotonic() - t0)))
    alive(m)
    nothing_anywhere(m)
    assert not [r for r in log_lines(m) if r["action"] == "deliver"]
    s = send(m, message("a@none.example"))
    assert s.code == 250, s.reply
    r = rows(m)
    assert [x["disposition"] for x in r if x["client_ip"] == SRC and
            x["disposition"] != "refused"] == ["delivered"], r


def test_disconnect_while_dmarc_pending(z, mx, keys):
    """The key answers, the DMARC record of the From: domain hangs; the
    client resets after the dot: gone, nothing delivered, no leak."""
    m = mx(resolver_timeout="60s", **POLICIES)
    msg = message("a@" + HANG)
    msg = signature(msg, "none.example", "sel", keys[1024][0]) + msg
    for _ in range(3):
        dot_then(m, msg, "close")
    wait_until(lambda: len(re.findall(r"disconnect client=127\.0\.0\.20 ",
                                      m.log())) >= 3, 15,
               what="3 disconnect lines")
    time.sleep(11)
    alive(m)
    nothing_anywhere(m)
    assert not [x for x in rows(m) if x["disposition"] != "refused"]


def test_half_close_after_dot_still_gets_the_verdict(z, mx, keys):
    """A client that only half-closes after its dot is still there: it
    gets the reply once DKIM and DMARC are done (strictmxd(8) Limits)."""
    m = mx(**POLICIES)
    msg = message("a@reject.example")
    msg = signature(msg, "reject.example", "sel", keys[1024][0]) + msg
    c = dot_then(m, msg, "shutdown")
    r = c.read_reply(timeout=15)
    c.close()
    assert r.code == 250, r
    (name, data), = delivered(m).items()
    assert "dkim=pass" in our_authres(data)[0]
    assert rows(m)[-1]["disposition"] == "delivered"


# ---------------------------------------------------------------------------
# forged Authentication-Results

FORGED = [
    "Authentication-Results: %s; dkim=pass header.d=quar.example;\r\n"
    "\tdmarc=pass header.from=quar.example\r\n" % H,
    "Authentication-Results: %s; dmarc=pass\r\n" % H.upper(),
    "Authentication-Results:\r\n\t%s 1; dkim=pass\r\n" % H,
    "authentication-results: (comment) %s; spf=pass\r\n" % H,
    "Authentication-Results: (%s) %s; dkim=pass\r\n" % ("c" * 1100, H),
]
FOREIGN = "Authentication-Results: relay.other.example; dkim=pass\r\n"


def test_forged_authres_removed_our_verdict_stands(z, mx):
    """A forgery of a p=quarantine domain carrying our authserv-id in five
    disguises: all removed, one foreign field kept below ours, our own
    dmarc=fail (junk) stands; the body's copy is untouched."""
    m = mx(**POLICIES)
    body = "look:\r\n" + FORGED[0] + "bye\r\n"
    msg = message("boss@quar.example", top="".join(FORGED) + FOREIGN,
                  body=body)
    s = send(m, msg)
    assert s.code == 250, s.reply
    (name, data), = delivered(m).items()
    assert name.startswith(".Junk/new/"), name
    ars = our_authres(data)
    assert len(ars) == 2, ars
    assert ars[0].startswith("Authentication-Results: %s;" % H), ars
    assert "dkim=none" in ars[0] and \
        "dmarc=fail (p=quarantine dis=quarantine)" in ars[0], ars[0]
    assert ars[1] == FOREIGN.rstrip("\r\n"), ars
    assert data.endswith(body.replace("\r\n", "\n").encode()), data[-300:]
    ln = last_log(m)
    assert (ln["dkim"], ln["dmarc"], ln["action"]) == ("none", "fail",
                                                       "junk"), ln
    row = rows(m)[-1]
    assert (row["dmarc_result"], row["disposition"]) == ("fail", "junk")


def test_forged_authres_on_a_reject_domain_is_refused(z, mx):
    m = mx(**POLICIES)
    msg = message("ceo@reject.example", top=FORGED[0].replace(
        "quar.example", "reject.example"))
    s = send(m, msg)
    assert s.code == 550 and s.reply.text.startswith("5.7.26"), s.reply
    nothing_anywhere(m)
    assert rows(m)[-1]["dmarc_result"] == "fail"
