#!/usr/bin/env python3
"""run_interop.py - the DKIM interop proof: every signature of the corpus
(make_corpus.py) verified by dkimpy and by strictmx's tests/dkim/dkim_verify
against the same keys, served by dnsserver.py; the verdicts must agree.

usage: run_interop.py --dkim-verify PATH --corpus DIR [--server ADDR:PORT]
                      [--disagreements FILE] [-t SECS]
  --corpus  a directory made by make_corpus.py (zone.json, manifest.json,
            msgs/)
  --server  where our DNS server listens and both verifiers ask
            (127.0.0.1:53, inside the namespace run.sh makes)
  --disagreements  written (overwritten) with every disagreement and an
            analysis per RFC 6376/8301 ("none" when there is none)

Verdicts, per signature (top first): dkimpy's DKIM(msg).verify(idx=i,
dnsfunc=...) is True or False (a DKIMException is False); strictmx's pass
must go with True and every other result (fail, policy, permerror) with
False. temperror, neutral and none are never right here (the DNS server
answers every query, no limit is set, every message is signed): they count
as disagreements, except temperror where the manifest says the key query
is never answered or SERVFAILs ("temp"): there only temperror is right
(RFC 6376 §6.1.2; dkimpy, which has no such result, must say False).
Where RFC 8301 makes strictmx stricter than dkimpy, the allow-list (ALLOW)
names the case and its section; such a row is printed as "stricter by RFC
8301", never as plain agreement.
Corpus self-check: each signature's expected RFC 6376 verdict (manifest
"expect") must be dkimpy's, so a broken signer cannot make the comparison
vacuous.
Prints the table, TAP lines, then "N passed, M failed"; exit 0 iff all pass.
"""
import argparse
import json
import logging
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True    # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "spf"))
import dkim  # noqa: E402
import dns.exception  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.resolver  # noqa: E402
from dnsserver import DNSServer, split_hostport  # noqa: E402

# Cases where strictmx must say "policy" while dkimpy may say True:
# (selector or alg predicate, citation). Matched per signature.
ALLOW = [
    (lambda s: s["alg"] == "rsa-sha1",
     "RFC 8301 §3.1: verifiers MUST NOT consider rsa-sha1 signatures valid"),
    (lambda s: s["alg"].startswith("rsa-") and s["bits"] < 1024,
     "RFC 8301 §3.2: keys under 1024 bits MUST NOT be considered valid"),
]


def allowed(sig):
    for pred, why in ALLOW:
        if pred(sig):
            return why
    return None


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def make_dnsfunc(host, port, timeout):
    """dkimpy's dnsfunc, asking our server: the first TXT RR's strings
    joined (as dkim/dnsplug.py does), None for NXDOMAIN or no TXT."""
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [host]
    res.port = port
    # The server is UDP only: EDNS0 (RFC 6891) lets a 4096-bit key's record
    # come in one datagram instead of TC and a TCP retry.
    res.use_edns(0, 0, 4096)

    def get_txt(name, timeout=timeout):
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        try:
            a = res.resolve(name, dns.rdatatype.TXT, raise_on_no_answer=False,
                            lifetime=timeout)
            for r in a.response.answer:
                if r.rdtype == dns.rdatatype.TXT:
                    return b"".join(list(r.items)[0].strings)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers):
            pass
        except dns.exception.Timeout as e:
            raise dkim.DnsTimeoutError(str(e))
        return None
    return get_txt


def dkimpy_verdicts(path, nsig, dnsfunc, timeout):
    """[(True|False, reason)] per signature, top first."""
    with open(path, "rb") as f:
        msg = f.read()
    out = []
    for i in range(nsig):
        logger = logging.getLogger("dkimpy-%d" % i)
        logger.propagate = False
        logger.handlers = []
        h = ListHandler()
        logger.addHandler(h)
        logger.setLevel(logging.INFO)
        try:
            d = dkim.DKIM(msg, logger=logger, timeout=timeout)
            ok = bool(d.verify(idx=i, dnsfunc=dnsfunc))
            why = "" if ok else ("; ".join(h.lines) or "signature mismatch")
        except dkim.DKIMException as e:
            ok, why = False, "%s: %s" % (type(e).__name__, e)
        out.append((ok, why))
    return out


def strictmx_verdicts(tool, server, files, timeout):
    """{path: (n, [(result, d, s, reason)])} and stderr."""
    cmd = [tool, "-s", server, "-t", str(timeout)] + files
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=120)
        out, err = p.stdout, p.stderr
        if p.returncode != 0:
            err += b"\ndkim_verify exited %d" % p.returncode
    except subprocess.TimeoutExpired as e:
        out, err = e.stdout or b"", (e.stderr or b"") + b"\ndkim_verify hung"
    got = {}
    for line in out.decode("utf-8", "replace").splitlines():
        f = line.split("\t")
        if len(f) < 3 or not f[1].isdigit():
            continue
        sigs = []
        for item in f[2:]:
            result = item.split(" ", 1)[0]
            d = re.search(r"\bd=(\S*)", item)
            s = re.search(r"\bs=(\S*)", item)
            r = re.search(r"\breason=(.*)$", item)
            sigs.append((result, d.group(1) if d else "",
                         s.group(1) if s else "", r.group(1) if r else ""))
        got[f[0]] = (int(f[1]), sigs)
    return got, err.decode("utf-8", "replace")


def analysis(row):
    """Who is right, per RFC 6376/8301, for a disagreement row."""
    sig, py, sm = row["sig"], row["py"], row["sm"]
    t = row["tamper"]
    if sig.get("temp"):
        return ("the key query is never answered or SERVFAILs: RFC 6376 "
                "§6.1.2 makes that TEMPFAIL (temperror), and nothing else; "
                "strictmx said %s." % sm)
    if sm in ("temperror", "neutral", "none", "missing"):
        return ("strictmx gave no verdict (%s) though the DNS server answers "
                "every query and no signature limit is set: strictmx is "
                "wrong (RFC 6376 §6.1.2: NXDOMAIN is PERMFAIL, not "
                "TEMPFAIL)." % sm)
    if py and sm != "pass":
        if sig["selector"] == "testing":
            return ("key t=y: RFC 6376 §3.6.1 says a verifier MUST NOT treat "
                    "messages from a signer in testing mode differently from "
                    "unsigned email, but the signature itself still "
                    "verifies; the result should be pass (with the testing "
                    "flag). strictmx is likely wrong.")
        if sig["selector"] == "split":
            return ("key TXT split into several strings: RFC 6376 §3.6.2.2 "
                    "says the strings are concatenated with no separator "
                    "before use. strictmx is wrong.")
        if t == "refold":
            return ("re-folded header under relaxed header canonicalisation "
                    "(RFC 6376 §3.4.2 unfolds and compresses WSP): the "
                    "signature must verify. strictmx is wrong.")
        if t == "list-footer":
            return ("footer appended after the l= count (RFC 6376 §3.4.5, "
                    "§5.3.1): only the first l= octets of the canonical body "
                    "are hashed; the signature must verify. strictmx is "
                    "wrong.")
        return ("dkimpy verifies this signature and RFC 6376 expects it to "
                "verify (%s); strictmx says %s: strictmx is likely wrong." %
                ("corpus expectation: pass" if sig.get("expect")
                 else "corpus expectation: not pass", sm))
    if not py and sm == "pass":
        return ("strictmx passes a signature dkimpy rejects (%s). %s" %
                (row["pyreason"][:160],
                 "The corpus expects it to fail (tamper: %s): strictmx is "
                 "wrong." % t if not sig.get("expect") else
                 "The corpus expects it to pass: dkimpy may be the one "
                 "wrong; check its reason."))
    return "unclassified"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dkim-verify", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--server", default="127.0.0.1:53")
    ap.add_argument("--disagreements")
    ap.add_argument("-t", type=int, default=2, help="resolver timeout")
    args = ap.parse_args()

    with open(os.path.join(args.corpus, "zone.json")) as f:
        zone = json.load(f)
    with open(os.path.join(args.corpus, "manifest.json")) as f:
        manifest = json.load(f)
    host, port = split_hostport(args.server)
    srv = DNSServer(zone, host, port).start()
    try:
        dnsfunc = make_dnsfunc(host, port, args.t)
        files = [os.path.join(args.corpus, "msgs", e["file"])
                 for e in manifest]
        py = {p: dkimpy_verdicts(p, len(e["sigs"]), dnsfunc, args.t)
              for p, e in zip(files, manifest)}
        if os.access(args.dkim_verify, os.X_OK):
            sm, err = strictmx_verdicts(args.dkim_verify, args.server, files,
                                        args.t)
        else:
            sm, err = {}, "dkim_verify: %s not built" % args.dkim_verify
    finally:
        srv.stop()

    rows = []
    for path, e in zip(files, manifest):
        n, sms = sm.get(path, (None, []))
        for i, sig in enumerate(e["sigs"]):
            ok, why = py[path][i]
            if n is None:
                res, reason = "missing", "no output line from dkim_verify"
            elif i < len(sms):
                res, reason = sms[i][0], sms[i][3]
            else:
                res, reason = "none", "dkim_verify listed %d signatures" % n
            stricter = allowed(sig)
            if sig.get("temp"):
                # The key query is never answered or SERVFAILs: only
                # temperror is right (RFC 6376 §6.1.2), dkimpy says False.
                verdict = "yes" if res == "temperror" and not ok else "NO"
            elif res == "pass":
                verdict = "yes" if ok else "NO"
            elif res in ("fail", "policy", "permerror"):
                if not ok:
                    verdict = "yes"
                elif stricter and res == "policy":
                    verdict = "stricter by RFC 8301"
                else:
                    verdict = "NO"
            else:
                verdict = "NO"
            rows.append({"file": e["file"], "i": i + 1, "sig": sig,
                         "tamper": e["tamper"], "note": e["note"],
                         "py": ok, "pyreason": why, "sm": res,
                         "smreason": reason, "agree": verdict,
                         "why8301": stricter if verdict != "yes" else None,
                         "corpus_ok": ok == sig["expect"]})

    # The table.
    hdr = ("message", "sig", "signer", "algorithm", "bits", "c=", "l=",
           "tamper/note", "dkimpy", "strictmx", "agree")
    table = []
    for r in rows:
        s = r["sig"]
        what = "; ".join(x for x in (r["tamper"] if r["tamper"] != "none"
                                     else "", r["note"]) if x) or "-"
        table.append((r["file"][:-4], str(r["i"]), s["signer"], s["alg"],
                      str(s["bits"]), s["c"], "yes" if s["l"] else "no",
                      what, "True" if r["py"] else "False", r["sm"],
                      r["agree"]))
    widths = [max(len(h), *(len(t[k]) for t in table)) if table else len(h)
              for k, h in enumerate(hdr)]
    fmt = "  ".join("%%-%ds" % w for w in widths)
    print("# " + fmt % hdr)
    for t in table:
        print("# " + fmt % t)

    # TAP.
    passed = failed = 0
    n = 0
    print("1..%d" % (2 * len(rows)))
    for r in rows:
        n += 1
        label = "%s sig %d (%s %s %s)" % (r["file"], r["i"], r["sig"]["signer"],
                                         r["sig"]["alg"], r["sig"]["c"])
        if r["agree"] == "yes":
            print("ok %d - agree: %s: dkimpy %s, strictmx %s"
                  % (n, label, r["py"], r["sm"]))
            passed += 1
        elif r["agree"] == "stricter by RFC 8301":
            print("ok %d - stricter by RFC 8301: %s: dkimpy %s, strictmx %s "
                  "# %s" % (n, label, r["py"], r["sm"], r["why8301"]))
            passed += 1
        else:
            print("not ok %d - DISAGREE: %s: dkimpy %s (%s), strictmx %s (%s)"
                  % (n, label, r["py"], r["pyreason"][:100], r["sm"],
                     r["smreason"][:100]))
            failed += 1
    for r in rows:
        n += 1
        label = "%s sig %d" % (r["file"], r["i"])
        if r["corpus_ok"]:
            print("ok %d - corpus: dkimpy says %s as RFC 6376 expects: %s"
                  % (n, r["py"], label))
            passed += 1
        else:
            print("not ok %d - corpus: dkimpy says %s, RFC 6376 expects %s: "
                  "%s (%s)" % (n, r["py"], r["sig"]["expect"], label,
                               r["pyreason"][:120]))
            failed += 1
    if err.strip():
        print("# dkim_verify stderr: " + err.strip()[-2000:].replace(
            "\n", "\n# "))

    agree = sum(r["agree"] == "yes" for r in rows)
    stricter = sum(r["agree"] == "stricter by RFC 8301" for r in rows)
    bad = [r for r in rows if r["agree"] == "NO"]
    print("# %d messages, %d signatures: %d agree, %d stricter by RFC 8301, "
          "%d disagree; dkimpy matched the corpus expectation on %d"
          % (len(manifest), len(rows), agree, stricter, len(bad),
             sum(r["corpus_ok"] for r in rows)))

    if args.disagreements:
        if bad:
            with open(args.disagreements, "w") as f:
                f.write("DKIM interop disagreements (tests/dkim/run_interop.py"
                        "): %d of %d signatures\n\n" % (len(bad), len(rows)))
                for r in bad:
                    s = r["sig"]
                    f.write("%s sig %d: signer %s, %s, %d bits, c=%s, l=%s, "
                            "selector %s, tamper/note: %s\n"
                            % (r["file"], r["i"], s["signer"], s["alg"],
                               s["bits"], s["c"], "yes" if s["l"] else "no",
                               s["selector"], "; ".join(
                                   x for x in (r["tamper"] if r["tamper"] !=
                                               "none" else "", r["note"])
                                   if x) or "-"))
                    f.write("  expected (dkimpy): %s%s\n"
                            % ("pass" if r["py"] else "not pass",
                               " - " + r["pyreason"] if r["pyreason"] else ""))
                    f.write("  got (strictmx):    %s - %s\n"
                            % (r["sm"], r["smreason"]))
                    f.write("  analysis: %s\n\n" % analysis(r))
        else:
            with open(args.disagreements, "w") as f:
                f.write("DKIM interop disagreements (tests/dkim/run_interop"
                        ".py): none; %d signatures agree, %d stricter by "
                        "RFC 8301\n" % (agree, stricter))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
