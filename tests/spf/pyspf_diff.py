#!/usr/bin/env python3
"""pyspf_diff.py - differential test of spf_eval against pyspf (Debian
python3-spf) on generated SPF records and zones.

usage: pyspf_diff.py --spf-eval PATH [--seed N] [--count N] [--server A:P]
                     [--batch N] [--dump FILE] [-v]
One zone holds every case (case i lives under c<i>.example.org and has a
client address of its own, so PTR names never collide). dnsserver.py serves
it to spf_eval; pyspf sees the same zone through spf.DNSLookup replaced by
a function over dnsserver.Zone, the way pyspf's own test/testspf.py does.
Compared: the result, and for "fail" the explanation (exp=).
Prints one TAP line per case, then "N passed, M failed"; exit 0 iff all
pass. A difference on the ALLOW list is reported "ok ... # allowed: why".
"""
import argparse
import ipaddress
import os
import random
import re
import sys

import spf

sys.dont_write_bytecode = True    # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dnsserver import DNSServer, Zone, TYPES, TYPE_NAMES  # noqa: E402
from run_suite import run_eval  # noqa: E402

RECEIVER = "receiver.example"

# Known differences between pyspf 2.0.14 and RFC 7208, each justified by
# the RFC text: (name, predicate(case, pyspf_result, ours) -> bool, why).
ALLOW = [
    ("pyspf accepts a qualified exists with no domain",
     lambda c, py, ours: ours[0] == "permerror" and py[0] != "permerror"
     and re.search(r"(^| )[-+~?]exists( |$)", c["record"]) is not None,
     "RFC 7208 5.7: exists = \"exists\" \":\" domain-spec, the domain is "
     "not optional, and 4.6: a syntax error anywhere in the record is a "
     "permerror (the suite's exists-implicit case). pyspf 2.0.14 rejects a "
     "bare \"exists\" but evaluates \"-exists\" as a non-match."),
]


def rev_name(ip):
    a = ipaddress.ip_address(ip)
    if a.version == 4:
        return ".".join(reversed(str(a).split("."))) + ".in-addr.arpa"
    return ".".join(reversed(a.exploded.replace(":", ""))) + ".ip6.arpa"


def i_macro(ip):
    a = ipaddress.ip_address(ip)
    if a.version == 4:
        return str(a)
    return ".".join(a.exploded.replace(":", ""))


class Gen:
    """Builds one case: records into zone, returns the case dict."""

    def __init__(self, rng, zone, i):
        self.r, self.zone, self.i = rng, zone, i
        self.base = "c%d.example.org" % i
        self.v6 = rng.random() < 0.3
        if self.v6:
            self.ip = "2001:db8:%x::%x" % (i + 1, rng.randint(1, 0xffff))
        else:
            self.ip = "10.%d.%d.%d" % (i // 256, i % 256, rng.randint(1, 254))
        self.n = 0
        self.kind = set()
        self.local = rng.choice(["user", "a.b", "first-last", "x+tag"])

    def name(self, p):
        self.n += 1
        return "%s%d.%s" % (p, self.n, self.base)

    def add(self, name, *recs):
        self.zone.setdefault(name, []).extend(recs)

    def other_ip(self, v6):
        r = self.r
        if v6:
            return "2001:db8:ff%02x::%x" % (r.randint(0, 255),
                                          r.randint(1, 0xffff))
        return "172.%d.%d.%d" % (r.randint(16, 31), r.randint(0, 255),
                                 r.randint(1, 254))

    def host(self, name, match):
        """A and AAAA records for name, including the client's if match."""
        recs = [{"A": self.other_ip(False)}, {"AAAA": self.other_ip(True)}]
        if match:
            recs.append({"AAAA" if self.v6 else "A": self.ip})
        self.r.shuffle(recs)
        self.add(name, *recs)

    def qual(self):
        return self.r.choice(["", "", "+", "-", "~", "?"])

    def net(self, v6):
        r = self.r
        if v6 != self.v6 or r.random() < 0.4:
            ip = self.other_ip(v6)
        else:
            ip = self.ip
        cidr = r.choice([32, 48, 64, 96, 128] if v6 else [8, 16, 24, 30, 32])
        if r.random() < 0.2:
            return ip                       # no CIDR length
        net = ipaddress.ip_network("%s/%d" % (ip, cidr), strict=False)
        return "%s/%d" % (net.network_address, cidr)

    def mech(self, dom, depth):
        r = self.r
        k = r.choice(["ip4", "ip4", "ip6", "a", "a", "mx", "include",
                      "exists", "ptr", "void"])
        self.kind.add(k)
        q = self.qual()
        if k == "ip4":
            return q + "ip4:" + self.net(False)
        if k == "ip6":
            return q + "ip6:" + self.net(True)
        if k == "a":
            if r.random() < 0.3:
                self.host(dom, r.random() < 0.4)
                t = "a"
            else:
                h = self.name("h")
                self.host(h, r.random() < 0.4)
                t = "a:" + h
            if r.random() < 0.3:
                t += "/%d" % r.choice([16, 24, 32])
            if r.random() < 0.2:
                t += "//%d" % r.choice([48, 64, 128])
            return q + t
        if k == "mx":
            t = "mx"
            target = dom
            if r.random() < 0.5:
                target = self.name("m")
                t = "mx:" + target
            for pref in range(r.randint(1, 3)):
                h = self.name("mxh")
                self.host(h, r.random() < 0.3)
                self.add(target, {"MX": [pref * 10, h]})
            return q + t
        if k == "include" and depth < 2:
            inc = self.name("inc")
            self.add(inc, {"TXT": self.record(inc, depth + 1)})
            return q + "include:" + inc
        if k == "exists":
            form = r.choice(["%{i}.e.%{d}", "%{ir}.%{v}.x.%{d2}",
                             "%{l}.u.%{o}", "%{l1r-}.s.%{d}"])
            exp = form.replace("%{i}", i_macro(self.ip))
            exp = exp.replace("%{ir}", ".".join(
                reversed(i_macro(self.ip).split("."))))
            exp = exp.replace("%{v}", "ip6" if self.v6 else "in-addr")
            exp = exp.replace("%{d2}", ".".join(dom.split(".")[-2:]))
            exp = exp.replace("%{d}", dom).replace("%{o}", self.base)
            exp = exp.replace("%{l}", self.local)
            exp = exp.replace("%{l1r-}", self.local.split("-")[0])
            if r.random() < 0.5:
                self.add(exp, {"A": "127.0.0.2"})
            return q + "exists:" + form
        if k == "ptr":
            rn = rev_name(self.ip)
            if rn not in self.zone:
                for _ in range(r.randint(1, 3)):
                    p = r.choice([self.name("p"), "p%d.elsewhere.example"
                                  % self.i])
                    self.add(rn, {"PTR": p})
                    self.host(p, r.random() < 0.6)
            return q + ("ptr" if r.random() < 0.5 else "ptr:" + self.base)
        # a void lookup: NXDOMAIN or NODATA
        v = self.name("void")
        if r.random() < 0.5:
            self.add(v, {"TXT": "not spf"})
        return q + r.choice(["a:", "exists:", "mx:"]) + v

    def record(self, dom, depth=0):
        r = self.r
        terms = [self.mech(dom, depth) for _ in range(r.randint(0, 4))]
        if r.random() < 0.08:
            self.kind.add("timeout")
            t = self.name("to")
            self.add(t, "TIMEOUT")
            terms.insert(r.randint(0, len(terms)),
                         r.choice(["a:", "exists:", "include:"]) + t)
        if r.random() < 0.6:
            terms.append(self.qual() + "all")
        elif r.random() < 0.4 and depth < 2:
            red = self.name("red")
            self.add(red, {"TXT": self.record(red, depth + 1)})
            terms.append("redirect=" + red)
        if depth == 0 and r.random() < 0.4:
            x = self.name("exp")
            self.add(x, {"TXT": r.choice([
                "Not allowed: %{i} for %{s}",
                "%{l} at %{o} via %{d}, helo %{h} (%{v})",
                "See http://%{d}/why?ip=%{c}&r=%{r}",
                "plain text."])})
            terms.insert(r.randint(0, len(terms)), "exp=" + x)
        if r.random() < 0.05:
            terms.append("unknown-mod=%{d}")
        return " ".join(["v=spf1"] + terms)

    def corrupt(self, rec):
        bad = self.r.choice([
            "ip4:10.0.0", "ip4:10.0.0.1/33", "ip4:10.0.0.1/08", "a:",
            "ip6:2001:db8::/129", "redirect=a.example redirect=b.example",
            "exp=a.example exp=b.example", "foo:bar", "exists:%{z}.example",
            "a/", "mx//", "all:x", "include", "-exists", "a/24/64",
            "ip6:2001:db8:::1", "a:example.123", "9mod=x", "ptr/24",
            "exists:%{i", "%{d}", "a:%{ir}.%", "ip4:300.1.1.1",
            "-all.", "+-all", "v=spf1"])
        self.kind.add("invalid")
        terms = rec.split(" ")
        terms.insert(self.r.randint(1, len(terms)), bad)
        return " ".join(terms)

    def build(self):
        r = self.r
        null = r.random() < 0.1
        rec = self.record(self.base)
        if r.random() < 0.12:
            rec = self.corrupt(rec)
        shape = r.random()
        if shape < 0.03:
            self.kind.add("none")           # no SPF record
            self.add(self.base, {"TXT": "google-site-verification=x"})
        elif shape < 0.06:
            self.kind.add("twice")
            self.add(self.base, {"TXT": rec}, {"TXT": "v=spf1 -all"})
        elif shape < 0.09:
            self.kind.add("limit")
            h = self.name("h")
            self.host(h, False)
            self.add(self.base, {"TXT": "v=spf1 " + " ".join(
                ["a:" + h] * r.randint(9, 12) + [self.qual() + "all"])})
        else:
            self.add(self.base, {"TXT": rec if r.random() < 0.8 else
                                 [rec[:10], rec[10:]]})
        return {"id": str(self.i), "ip": self.ip,
                "mailfrom": "" if null else "%s@%s" % (self.local, self.base),
                "helo": self.base if null else "mail." + self.base,
                "record": rec, "kind": self.kind}


def pyspf_lookup(zone):
    """spf.DNSLookup over the zone, in pyspf's format (test/testspf.py)."""
    def lookup(name, qtype, strict=True, timeout=None):
        status, rcode, answers = zone.resolve(name, TYPES[qtype])
        if status != "ok" or rcode not in (0, 3):
            raise spf.TempError("DNS timeout or error")
        out = []
        for owner, t, v in answers:
            tn = TYPE_NAMES[t]
            if tn == "AAAA":
                v = ipaddress.IPv6Address(v).packed
            elif tn in ("TXT", "SPF"):
                v = tuple(s.encode("utf-8") for s in
                          ([v] if isinstance(v, str) else v))
            elif tn == "MX":
                v = (v[0], v[1])
            out.append(((owner, tn), v))
        return out
    return lookup


def run_pyspf(c):
    q = spf.query(i=c["ip"], s=c["mailfrom"], h=c["helo"],
                  receiver=RECEIVER, strict=True)
    q.set_default_explanation("DEFAULT")
    try:
        res, _, exp = q.check()
    except Exception as e:          # a pyspf crash is a pyspf result too
        return ("crash", "", repr(e))
    if res != "fail" or exp == "DEFAULT":
        exp = ""
    return (res, exp, getattr(q, "prob", "") or "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spf-eval", default=os.environ.get("SPF_EVAL"),
                    required="SPF_EVAL" not in os.environ)
    ap.add_argument("--seed", type=int, default=7208)
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--server", default="127.0.0.1:53")
    ap.add_argument("--dump", help="write the zone and cases (JSON) here")
    ap.add_argument("-v", action="store_true", help="print every record")
    ap.add_argument("--batch", type=int, default=50,
                    help="cases per spf_eval run")
    ap.add_argument("-t", type=int, default=1)
    ap.add_argument("-T", type=int, default=20)
    args = ap.parse_args()
    args.receiver = RECEIVER

    rng = random.Random(args.seed)
    zonedata = {}
    cases = [Gen(rng, zonedata, i).build() for i in range(args.count)]
    if args.dump:
        import json
        with open(args.dump, "w") as f:
            json.dump({"zone": zonedata, "cases": [
                dict(c, kind=sorted(c["kind"])) for c in cases]}, f,
                indent=1)
    zone = Zone(zonedata)
    spf.DNSLookup = pyspf_lookup(zone)
    py = {c["id"]: run_pyspf(c) for c in cases}

    host, _, port = args.server.rpartition(":")
    srv = DNSServer(zonedata, host.strip("[]"), int(port)).start()
    got, err = {}, ""
    try:
        # In batches: hundreds of checks started at once overflow the
        # client's UDP receive buffer, and a reply lost then is a
        # temperror within the 1 s resolver timeout (not what we compare).
        for b in range(0, len(cases), args.batch):
            g, e = run_eval(args, args.server, [
                (c["id"], c["ip"], c["mailfrom"], c["helo"])
                for c in cases[b:b + args.batch]])
            got.update(g)
            err += e
    finally:
        srv.stop()

    passed = failed = 0
    counts = {}
    for n, c in enumerate(cases, 1):
        p = py[c["id"]]
        o = got.get(c["id"], ("(no output)", "", ""))
        counts[p[0]] = counts.get(p[0], 0) + 1
        what = "case %s %s %s %s" % (c["id"], c["ip"], c["mailfrom"] or "<>",
                                     c["helo"])
        if (p[0], p[1]) == (o[0], o[1]):
            passed += 1
            print("ok %d - %s %s" % (n, what, o[0]))
        else:
            allowed = [a for a in ALLOW if a[1](c, p, o)]
            if allowed:
                passed += 1
                print("ok %d - %s pyspf %s ours %s # allowed: %s"
                      % (n, what, p[0], o[0], allowed[0][0]))
                continue
            failed += 1
            print("not ok %d - %s: pyspf %s %r (%s), ours %s %r (%s)"
                  % (n, what, p[0], p[1], p[2], o[0], o[1], o[2]))
            print("#   record: %s" % c["record"])
        if args.v:
            print("#   record: %s" % c["record"])
    if failed and err.strip():
        print("# spf_eval stderr: " + err.strip()[-1500:].replace(
            "\n", "\n# "))
    print("# pyspf results: %s" % ", ".join(
        "%s %d" % kv for kv in sorted(counts.items())))
    print("1..%d" % len(cases))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if cases and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
