#!/usr/bin/env python3
"""make_corpus.py - build the DKIM interop corpus: messages signed by two
independent signers, dkimpy (python3-dkim) and OpenDKIM, then tampered,
wrapped by a mailing list, or made hostile; plus the zone with every key.

usage: make_corpus.py OUTDIR
Writes, fresh each run (new keys, same message text):
  OUTDIR/keys/            private keys (opendkim-genkey RSA keys, Ed25519)
  OUTDIR/msgs/NNN-*.eml   the messages, LF line ends
  OUTDIR/zone.json        {"<selector>._domainkey.<domain>": [{"TXT": ...}]}
                          in tests/spf/dnsserver.py's zone format
  OUTDIR/manifest.json    one entry per message: file, tamper, note, and per
                          DKIM-Signature (top first) signer, selector, alg,
                          canonicalisation, l=, expect (RFC 6376 verdict),
                          temp (the key lookup must fail temporarily)
Signers: dkimpy's dkim.sign() (RSA and Ed25519) and OpenDKIM's `opendkim -t
MSG -b s -x CONF` (test mode, signing: it prints the DKIM-Signature it would
add; RSA and Ed25519 - OpenDKIM 2.11 in Debian 12 signs ed25519-sha256).
opendkim-testmsg is not used: it takes no configuration (always rsa-sha1,
relaxed/simple, no l=) and in Debian 12 it prints a corrupted b= (the tail
of the value repeated), so it cannot make this corpus.
RSA keys come from opendkim-genkey (used by both signers, each under its
own selector); Ed25519 keys from PyNaCl (dkimpy) and `openssl genpkey`
(OpenDKIM).
"""
import base64
import concurrent.futures
import json
import os
import re
import subprocess
import sys

import nacl.signing

sys.dont_write_bytecode = True
import dkim  # noqa: E402

DOMAIN = "interop.example"
CANONS = [("simple", "simple"), ("relaxed", "relaxed"), ("relaxed", "simple")]
HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version",
           "Content-Type"]

BODY = ("Hello Bob,\n"
        "\n"
        "This message tests DKIM interoperability.\t \n"
        "   An indented line with trailing blanks and\ttabs   \n"
        "A line with  double  spaces, and one with none:\n"
        "x\n"
        "\n"
        "-- \n"
        "Alice\n"
        "\n"
        "\n")

FOOTER = ("_______________________________________________\n"
          "interop-list mailing list\n"
          "https://lists.interop.example/listinfo/interop-list\n")


def message(name):
    return ("From: Alice Example <alice@%s>\n"
            "To: Bob <bob@receiver.example>\n"
            "Subject: Interop test message %s\n"
            "Date: Sun, 01 Dec 2024 12:00:00 +0000\n"
            "Message-ID: <%s@%s>\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=us-ascii\n"
            "\n" % (DOMAIN, name, name, DOMAIN)) + BODY


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, **kw)


class Keys:
    """The keys and the zone: selector -> key info."""

    def __init__(self, out):
        self.dir = os.path.join(out, "keys")
        os.makedirs(self.dir, exist_ok=True)
        self.zone = {}
        self.rsa = {}       # bits -> (pkcs8 path for OpenDKIM, PKCS#1 PEM bytes)
        self.ed_nacl = None     # base64 seed (dkimpy's format)
        self.ed_pem = None      # PKCS#8 PEM path (OpenDKIM's format)

    def txt(self, selector, value):
        self.zone["%s._domainkey.%s" % (selector, DOMAIN)] = [{"TXT": value}]

    def gen_rsa(self, bits):
        sel = "gen%d" % bits
        run(["opendkim-genkey", "-b", str(bits), "-d", DOMAIN, "-s", sel,
             "-D", self.dir])
        path = os.path.join(self.dir, sel + ".private")
        pkcs1 = run(["openssl", "rsa", "-in", path, "-traditional"]).stdout
        # The p= value: opendkim-genkey's .txt record, strings joined.
        rec = open(os.path.join(self.dir, sel + ".txt")).read()
        strings = re.findall(r'"([^"]*)"', rec)
        p = re.search(r"p=([A-Za-z0-9+/=]+)", "".join(strings)).group(1)
        self.rsa[bits] = (path, pkcs1, p)

    def gen_ed25519(self):
        sk = nacl.signing.SigningKey.generate()
        self.ed_nacl = base64.b64encode(bytes(sk))
        self.ed_nacl_pub = base64.b64encode(bytes(sk.verify_key)).decode()
        self.ed_pem = os.path.join(self.dir, "ed-odk.pem")
        run(["openssl", "genpkey", "-algorithm", "ed25519", "-out",
             self.ed_pem])
        der = run(["openssl", "pkey", "-in", self.ed_pem, "-pubout",
                   "-outform", "DER"]).stdout
        self.ed_pem_pub = base64.b64encode(der[-32:]).decode()   # RFC 8463 §4.2

    def make(self):
        with concurrent.futures.ThreadPoolExecutor(5) as ex:
            list(ex.map(self.gen_rsa, (512, 1024, 2048, 4096)))
        self.gen_ed25519()
        for bits in (1024, 2048, 4096, 512):
            p = self.rsa[bits][2]
            for signer in ("py", "odk"):
                self.txt("%s-rsa%d" % (signer, bits),
                         "v=DKIM1; k=rsa; p=" + p)
        self.txt("py-ed25519", "v=DKIM1; k=ed25519; p=" + self.ed_nacl_pub)
        self.txt("odk-ed25519", "v=DKIM1; k=ed25519; p=" + self.ed_pem_pub)
        p2048 = self.rsa[2048][2]
        # The 2048-bit key's record cut into several character-strings at
        # odd places, one cut inside "v=DKIM1" and two inside p= (RFC 6376
        # §3.6.2.2: the strings are concatenated with nothing between).
        rec = "v=DKIM1; k=rsa; p=" + p2048
        self.txt("split", [rec[:3], rec[3:40], rec[40:41], rec[41:200],
                           rec[200:]])
        # Four base64 characters in the middle of p= replaced with '!'
        # (RFC 6376 §3.6.1: p= is base64string).
        mid = len(p2048) // 2
        self.txt("badp", "v=DKIM1; k=rsa; p=" + p2048[:mid] + "!!!!" +
                 p2048[mid + 4:])
        self.txt("revoked", "v=DKIM1; k=rsa; p=")      # RFC 6376 §3.6.1
        self.txt("testing", "v=DKIM1; k=rsa; t=y; p=" + p2048)
        # "missing": no record at all (NXDOMAIN). Keys that never resolve:
        # no answer at all, and SERVFAIL (RFC 6376 §6.1.2: TEMPFAIL).
        self.zone["timeout._domainkey." + DOMAIN] = ["TIMEOUT"]
        self.zone["servfail._domainkey." + DOMAIN] = [{"RCODE": 2}]
        return self


class Corpus:
    def __init__(self, out, keys):
        self.out = out
        self.keys = keys
        self.msgdir = os.path.join(out, "msgs")
        os.makedirs(self.msgdir, exist_ok=True)
        self.entries = []
        self.jobs = []      # (name, text, sigspecs, post) signed later

    # --- signers --------------------------------------------------------
    def sign_dkimpy(self, text, spec):
        alg = spec["alg"]
        if alg == "ed25519-sha256":
            priv = self.keys.ed_nacl
        else:
            priv = self.keys.rsa[spec["bits"]][1]
        hdrs = [h.lower() for h in HEADERS] + ["from"]   # dkimpy's default
        if spec.get("oversign"):
            hdrs.append("subject")
        sig = dkim.sign(text.encode(), spec["selector"].encode(),
                        DOMAIN.encode(), priv,
                        canonicalize=tuple(c.encode() for c in spec["c"]),
                        signature_algorithm=alg.encode(),
                        include_headers=[h.encode() for h in hdrs],
                        length=spec["l"], linesep=b"\n")
        return sig.decode()

    def sign_opendkim(self, text, spec, tag):
        work = os.path.join(self.out, "odk")
        os.makedirs(work, exist_ok=True)
        msg = os.path.join(work, tag + ".eml")
        conf = os.path.join(work, tag + ".conf")
        with open(msg, "w") as f:
            f.write(text)
        if spec["alg"] == "ed25519-sha256":
            keyfile = self.keys.ed_pem
        else:
            keyfile = self.keys.rsa[spec["bits"]][0]
        lines = ["Mode s", "Syslog no", "RequireSafeKeys false",
                 "Domain " + DOMAIN, "Selector " + spec["selector"],
                 "KeyFile " + keyfile,
                 "Canonicalization %s/%s" % spec["c"],
                 "SignatureAlgorithm " + spec["alg"],
                 "SignHeaders " + ",".join(HEADERS)]
        if spec["l"]:
            # l= is added when the body is longer than this; shorter bodies
            # are signed whole, still with l= (opendkim.conf(5)).
            lines.append("MaximumSignedBytes 1000000")
        if spec.get("oversign"):
            lines.append("OversignHeaders Subject")
        if spec["bits"] < 1024:
            lines.append("MinimumKeyBits %d" % spec["bits"])
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        p = run(["opendkim", "-x", conf, "-t", msg, "-b", "s"])
        outp = p.stdout.decode()
        i = outp.find("DKIM-Signature:")
        if i < 0:
            raise RuntimeError("opendkim printed no signature for %s: %s"
                               % (tag, outp + p.stderr.decode()))
        sig = outp[i:].rstrip("\n") + "\n"
        if spec["l"] and "l=" not in sig:
            raise RuntimeError("opendkim did not add l= for %s" % tag)
        return sig

    def sign(self, text, spec, tag):
        if spec["signer"] == "dkimpy":
            return self.sign_dkimpy(text, spec)
        return self.sign_opendkim(text, spec, tag)

    # --- corpus ---------------------------------------------------------
    def add(self, name, text, specs, tamper="none", note="", post=None,
            expect=True):
        """Queue a message: text signed by each spec independently,
        specs[0]'s signature on top, then post(text) applied. expect: does
        each signature verify under RFC 6376 alone (a bool for all, or a
        list) - the corpus self-check: dkimpy must say so."""
        if not isinstance(expect, list):
            expect = [expect] * len(specs)
        for s, e in zip(specs, expect):
            s["expect"] = e
            if odk_ed25519_simple_bug(s):
                s["expect"] = False
                note = (note + "; " if note else "") + ODK_BUG
        self.jobs.append((name, text, specs, tamper, note, post))

    def build(self):
        def do(job):
            idx, (name, text, specs, tamper, note, post) = job
            sigs = [self.sign(text, s, "%03d-%d" % (idx, i))
                    for i, s in enumerate(specs)]
            signed = "".join(sigs) + text
            if post:
                signed = post(signed)
            return idx, name, signed, specs, tamper, note
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            results = list(ex.map(do, enumerate(self.jobs)))
        for idx, name, signed, specs, tamper, note in results:
            fname = "%03d-%s.eml" % (idx, name)
            with open(os.path.join(self.msgdir, fname), "w") as f:
                f.write(signed)
            self.entries.append({
                "file": fname, "tamper": tamper, "note": note,
                "sigs": [{k: s[k] for k in ("signer", "selector", "alg", "l",
                                                  "expect")}
                         | {"temp": s.get("temp", False)}
                         | {"c": "%s/%s" % s["c"],
                            "bits": s.get("bits", 256)}
                         for s in specs]})


# OpenDKIM 2.11 (Debian 12) signs ed25519-sha256 under simple header
# canonicalisation over a DKIM-Signature folded as "h=...; b=" on one line,
# then emits it with b= folded onto a line of its own: under simple
# (RFC 6376 §3.4.1) the folding is signed, so the signature can never
# verify (OpenDKIM's own verifier rejects it too; re-folded as hashed, it
# passes). Kept in the corpus as signatures that must not pass.
ODK_BUG = "OpenDKIM ed25519 simple-header signing bug: invalid signature"


def odk_ed25519_simple_bug(s):
    return (s["signer"] == "opendkim" and s["alg"] == "ed25519-sha256" and
            s["c"][0] == "simple")


def spec(signer, key, c, l=False, **kw):
    """key: an RSA size or "ed25519"."""
    short = "py" if signer == "dkimpy" else "odk"
    if key == "ed25519":
        d = {"alg": "ed25519-sha256", "selector": short + "-ed25519",
             "bits": 256}
    else:
        d = {"alg": "rsa-sha256", "selector": "%s-rsa%d" % (short, key),
             "bits": key}
    d.update({"signer": signer, "c": c, "l": l})
    d.update(kw)
    return d


# --- tampering: each takes the signed text, returns the new one ----------
def split(text):
    head, _, body = text.partition("\n\n")
    return head + "\n", body


def t_header_byte(text):
    # One byte of the signed Subject changed.
    return text.replace("Subject: Interop test", "Subject: Interop tast", 1)


def t_body_byte(text):
    head, body = split(text)
    return head + "\n" + body.replace("interoperability", "interoperabilitx",
                                      1)


def t_refold(text):
    # Whitespace only: the Subject folded after "Interop" (RFC 5322 §2.2.3).
    # Relaxed header canonicalisation unfolds it (RFC 6376 §3.4.2), simple
    # does not (§3.4.1).
    return text.replace("Subject: Interop test", "Subject: Interop\n\ttest",
                        1)


def t_list_footer(text):
    return text + FOOTER


def t_second_subject(text):
    # A second Subject: added on top of the header section (after the
    # signatures); h= picks instances from the bottom (RFC 6376 §5.4.2).
    head, body = split(text)
    i = head.find("\nFrom: ") + 1
    return head[:i] + "Subject: Added by a forger\n" + head[i:] + "\n" + body


def b_tag(text, index):
    """The offset of the value of b= in the index-th DKIM-Signature."""
    pos = -1
    for _ in range(index + 1):
        pos = text.find("DKIM-Signature:", pos + 1)
    m = re.compile(r"[;\s]b=").search(text, pos)
    return m.end()


def corrupt_b(index):
    """Change one base64 character of the index-th signature's b= (keeps
    it valid base64: the signature is merely wrong)."""
    def f(text):
        k = b_tag(text, index) + 10
        ch = "A" if text[k] != "A" else "B"
        return text[:k] + ch + text[k + 1:]
    return f


def malform_b(text):
    # '!' is outside the base64 alphabet (RFC 6376 §2.4, §3.5 b=).
    k = b_tag(text, 0) + 8
    return text[:k] + "!!!!" + text[k + 4:]


TAMPERS = [("hdr-byte", t_header_byte), ("body-byte", t_body_byte),
           ("refold", t_refold), ("list-footer", t_list_footer)]


def populate(c):
    n = 0
    for signer in ("dkimpy", "opendkim"):
        for key in (1024, 2048, 4096, "ed25519"):
            for canon in CANONS:
                for l in (False, True):
                    s = spec(signer, key, canon, l)
                    base = "%s-%s-%s-%s%s" % (
                        "py" if signer == "dkimpy" else "odk", key,
                        canon[0][0] + canon[1][0], "l" if l else "nol", "")
                    c.add(base, message(base), [s])
                    n += 1
                    for tname, tf in TAMPERS:
                        nm = base + "-" + tname
                        exp = {"hdr-byte": False, "body-byte": False,
                               "refold": canon[0] == "relaxed",
                               "list-footer": l}[tname]
                        c.add(nm, message(nm), [dict(s)], tamper=tname,
                              post=tf, expect=exp)
        # h= over-signs Subject; a second Subject added: must fail
        # (RFC 6376 §5.4.2, §8.15). The control: not over-signed, the same
        # addition is harmless.
        short = "py" if signer == "dkimpy" else "odk"
        for canon in (("relaxed", "relaxed"), ("simple", "simple")):
            cc = canon[0][0] + canon[1][0]
            for key in (2048, "ed25519"):
                nm = "%s-%s-%s-oversigned" % (short, key, cc)
                c.add(nm, message(nm), [spec(signer, key, canon,
                                             oversign=True)])
                c.add(nm + "-added-subject", message(nm + "-added-subject"),
                      [spec(signer, key, canon, oversign=True)],
                      tamper="added-subject (over-signed)",
                      post=t_second_subject, expect=False)
                nm = "%s-%s-%s-added-subject-unsigned" % (short, key, cc)
                c.add(nm, message(nm), [spec(signer, key, canon)],
                      tamper="added-subject (not over-signed)",
                      post=t_second_subject)
        rr = ("relaxed", "relaxed")
        # rsa-sha1 (RFC 8301 §3.1: verifiers MUST NOT consider rsa-sha1
        # signatures valid) with a 2048-bit key.
        nm = short + "-rsa-sha1"
        c.add(nm, message(nm), [spec(signer, 2048, rr, alg="rsa-sha1")],
              note="rsa-sha1")
        # A 512-bit key (RFC 8301 §3.2: keys under 1024 bits MUST NOT be
        # considered valid).
        nm = short + "-rsa512"
        c.add(nm, message(nm), [spec(signer, 512, rr)], note="512-bit key",
              expect=False)
        # Two signatures: the top one with a wrong b=, the other good; and
        # the reverse.
        other = "opendkim" if signer == "dkimpy" else "dkimpy"
        nm = short + "-two-sigs-top-bad"
        c.add(nm, message(nm), [spec(signer, 2048, rr),
                                spec(other, "ed25519", rr)],
              tamper="b= of signature 1 changed", post=corrupt_b(0),
              expect=[False, True])
        nm = short + "-two-sigs-bottom-bad"
        c.add(nm, message(nm), [spec(signer, 2048, rr),
                                spec(other, "ed25519", rr)],
              tamper="b= of signature 2 changed", post=corrupt_b(1),
              expect=[True, False])
        # Keys: split TXT, malformed p=, revoked, t=y, missing record.
        for sel, note, exp in (("split", "key TXT in 5 strings", True),
                               ("badp", "p= not base64", False),
                               ("revoked", "revoked key (empty p=)", False),
                               ("testing", "key t=y", True),
                               ("missing", "no key record", False)):
            nm = "%s-key-%s" % (short, sel)
            c.add(nm, message(nm), [spec(signer, 2048, rr, selector=sel)],
                  note=note, expect=exp)
        # The key lookup times out or fails: temperror is the right answer
        # (RFC 6376 §6.1.2); dkimpy has no such result and says False.
        for sel, note in (("timeout", "key query never answered"),
                          ("servfail", "key query SERVFAIL")):
            nm = "%s-key-%s" % (short, sel)
            c.add(nm, message(nm), [spec(signer, 2048, rr, selector=sel,
                                         temp=True)],
                  note=note, expect=False)
        nm = short + "-malformed-b"
        c.add(nm, message(nm), [spec(signer, 2048, rr)],
              tamper="b= not base64", post=malform_b, expect=False)
    return n


def main():
    if len(sys.argv) != 2:
        print("usage: make_corpus.py OUTDIR", file=sys.stderr)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    keys = Keys(out).make()
    corpus = Corpus(out, keys)
    populate(corpus)
    corpus.build()
    with open(os.path.join(out, "zone.json"), "w") as f:
        json.dump(keys.zone, f, indent=1)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(corpus.entries, f, indent=1)
    nsig = sum(len(e["sigs"]) for e in corpus.entries)
    print("make_corpus: %d messages, %d signatures, %d keys in %s"
          % (len(corpus.entries), nsig, len(keys.zone), out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
